//! Failure paths: servers and clients that go away mid-transaction (a closed
//! channel, or a dropped `Rtr` = a process that died), replay to other
//! servers, and transactions held until a server returns.

mod common;

use std::time::{Duration, Instant};

use common::*;
use rtr_core::flags::{ope, sen};
use rtr_core::{MsgType, Rtr, RtrError, Status, Which};

/// Receive the Msg1 of a transaction on whichever of `servers` got it.
fn msg1_on(rtr: &Rtr, servers: &[u32]) -> rtr_core::Message {
    let m = rtr.receive(&Which::List(servers.to_vec()), Some(WAIT)).unwrap();
    assert_eq!(m.sb.msgtype, MsgType::Msg1, "{m:?}");
    m
}

#[test]
fn closed_server_that_had_not_voted_is_replaced_with_msg1() {
    let rtr = Rtr::embedded().unwrap();
    let s1 = open_server(&rtr, 1, 100, 0);
    let s2 = open_server(&rtr, 1, 100, 0);
    let c = open_client(&rtr);
    rtr.send_to_server(c, 0, &msg(5, b"first")).unwrap();
    rtr.send_to_server(c, 0, &msg(6, b"second")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    let m = msg1_on(&rtr, &[s1, s2]);
    let (gone, other) = if m.sb.channel == s1 { (s1, s2) } else { (s2, s1) };
    assert_eq!(m.sb.tid, tid);
    // The other server is free and has nothing.
    assert_quiet(&rtr, other);
    rtr.close_channel(gone, 0).unwrap();
    // The other server gets the whole transaction from the start.
    let m = expect(&rtr, other, MsgType::Msg1);
    assert_eq!(m.sb.tid, tid);
    assert_eq!(m.data, msg(5, b"first"));
    assert_eq!(expect(&rtr, other, MsgType::Msgn).data, msg(6, b"second"));
    rtr.reply_to_client(other, 0, b"from the other").unwrap();
    assert_eq!(expect(&rtr, c, MsgType::Reply).data, b"from the other");
    rtr.accept_tx(c, 0, 0).unwrap();
    expect_accepted(&rtr, other, tid);
    expect_accepted(&rtr, c, tid);
    assert_quiet(&rtr, c);
}

#[test]
fn closed_server_that_had_voted_is_replaced_with_msg1_uncertain() {
    let rtr = Rtr::embedded().unwrap();
    let s1 = open_server(&rtr, 1, 100, ope::EXPLICIT_ACCEPT);
    let s2 = open_server(&rtr, 1, 100, ope::EXPLICIT_ACCEPT);
    let c = open_client(&rtr);
    rtr.send_to_server(c, 0, &msg(5, b"work")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    let m = msg1_on(&rtr, &[s1, s2]);
    let (gone, other) = if m.sb.channel == s1 { (s1, s2) } else { (s2, s1) };
    // Early vote, then the server goes away before the outcome.
    rtr.accept_tx(gone, 0, 0).unwrap();
    rtr.close_channel(gone, 0).unwrap();
    let m = expect(&rtr, other, MsgType::Msg1Uncertain);
    assert_eq!(m.sb.tid, tid);
    assert_eq!(m.data, msg(5, b"work"));
    assert_eq!(rtr.get_tid(other, 0).unwrap(), tid);
    rtr.accept_tx(c, 0, 0).unwrap();
    // The lost server's vote does not count: the replacement must vote.
    assert_quiet(&rtr, c);
    rtr.accept_tx(other, 0, 0).unwrap();
    // Committed exactly once, on both sides.
    expect_accepted(&rtr, other, tid);
    expect_accepted(&rtr, c, tid);
    assert_quiet(&rtr, c);
    assert_quiet(&rtr, other);
}

#[test]
fn replacement_of_a_voted_server_is_asked_to_vote_again() {
    // Two partitions keep the transaction open after partition A voted.
    let rtr = Rtr::embedded().unwrap();
    let a1 = open_server(&rtr, 1, 100, ope::EXPLICIT_PREPARE);
    let b = open_server(&rtr, 101, 200, ope::EXPLICIT_ACCEPT);
    let c = open_client(&rtr);
    rtr.send_to_server(c, 0, &msg(1, b"a")).unwrap();
    rtr.send_to_server(c, sen::ACCEPT, &msg(101, b"b")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    expect(&rtr, a1, MsgType::Msg1);
    expect(&rtr, a1, MsgType::Prepare);
    rtr.accept_tx(a1, 0, 0).unwrap();
    expect(&rtr, b, MsgType::Msg1);
    // A's server dies after voting; a concurrent one joins.
    let a2 = open_server(&rtr, 1, 100, ope::EXPLICIT_PREPARE);
    rtr.close_channel(a1, 0).unwrap();
    let m = expect(&rtr, a2, MsgType::Msg1Uncertain);
    assert_eq!(m.sb.tid, tid);
    let p = expect(&rtr, a2, MsgType::Prepare);
    assert_eq!(p.sb.tid, tid);
    rtr.accept_tx(a2, 0, 0).unwrap();
    assert_quiet(&rtr, c);
    rtr.accept_tx(b, 0, 0).unwrap();
    expect_accepted(&rtr, a2, tid);
    expect_accepted(&rtr, b, tid);
    expect_accepted(&rtr, c, tid);
}

#[test]
fn replacement_server_can_reject_a_replayed_transaction() {
    let rtr = Rtr::embedded().unwrap();
    let s1 = open_server(&rtr, 1, 100, ope::EXPLICIT_ACCEPT);
    let c = open_client(&rtr);
    rtr.send_to_server(c, 0, &msg(1, b"a")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    expect(&rtr, s1, MsgType::Msg1);
    let s2 = open_server(&rtr, 1, 100, ope::EXPLICIT_ACCEPT);
    rtr.close_channel(s1, 0).unwrap();
    expect(&rtr, s2, MsgType::Msg1);
    rtr.reject_tx(s2, 0, 12).unwrap();
    expect_rejected(&rtr, s2, tid, Status::Rejected, 12);
    expect_rejected(&rtr, c, tid, Status::Rejected, 12);
}

#[test]
fn server_process_death_replays_to_a_server_in_another_process() {
    let client = Rtr::embedded().unwrap();
    let node = client.node().expect("an embedded node");
    let p1 = Rtr::connect(&node).unwrap();
    let p2 = Rtr::connect(&node).unwrap();
    let s1 = open_server(&p1, 1, 100, 0);
    let c = open_client(&client);
    rtr_send_and_get_msg1(&client, c, &p1, s1);
    let tid = client.get_tid(c, 0).unwrap();
    let s2 = open_server(&p2, 1, 100, 0);
    // p2's server is free but the transaction is p1's.
    assert_quiet(&p2, s2);
    drop(p1);
    let m = expect(&p2, s2, MsgType::Msg1);
    assert_eq!(m.sb.tid, tid);
    client.accept_tx(c, 0, 0).unwrap();
    expect_accepted(&p2, s2, tid);
    expect_accepted(&client, c, tid);
}

fn rtr_send_and_get_msg1(client: &Rtr, c: u32, server: &Rtr, s: u32) {
    client.send_to_server(c, 0, &msg(5, b"x")).unwrap();
    expect(server, s, MsgType::Msg1);
}

#[test]
fn client_process_death_rejects_with_reqdied() {
    let server = Rtr::embedded().unwrap();
    let s = open_server(&server, 1, 100, 0);
    let client = server.connect_again().unwrap();
    let c = open_client(&client);
    client.send_to_server(c, 0, &msg(5, b"x")).unwrap();
    let tid = client.get_tid(c, 0).unwrap();
    let m = expect(&server, s, MsgType::Msg1);
    assert_eq!(m.sb.tid, tid);
    drop(client);
    expect_rejected(&server, s, tid, Status::Reqdied, 0);
    assert_eq!(Status::Reqdied.name(), "RTR_STS_REQDIED");
    // The server is free for the next client.
    let client2 = server.connect_again().unwrap();
    let c2 = open_client(&client2);
    round_trip(&client2, c2, &server, s, 6);
}

#[test]
fn client_process_death_with_a_clone_alive_is_no_death() {
    let server = Rtr::embedded().unwrap();
    let s = open_server(&server, 1, 100, 0);
    let client = server.connect_again().unwrap();
    let clone = client.clone();
    let c = open_client(&client);
    client.send_to_server(c, 0, &msg(5, b"x")).unwrap();
    let tid = client.get_tid(c, 0).unwrap();
    expect(&server, s, MsgType::Msg1);
    drop(client);
    assert_quiet(&server, s);
    clone.accept_tx(c, 0, 0).unwrap();
    expect_accepted(&server, s, tid);
    expect_accepted(&clone, c, tid);
}

#[test]
fn client_channel_closed_mid_transaction_rejects_with_reqdied() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_server(&rtr, 1, 100, 0);
    let c = open_client(&rtr);
    rtr.send_to_server(c, 0, &msg(5, b"x")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    expect(&rtr, s, MsgType::Msg1);
    rtr.reply_to_client(s, 0, b"never read").unwrap();
    rtr.close_channel(c, 0).unwrap();
    expect_rejected(&rtr, s, tid, Status::Reqdied, 0);
}

#[test]
fn client_death_after_accept_still_completes_the_transaction() {
    let server = Rtr::embedded().unwrap();
    let s = open_server(&server, 1, 100, ope::EXPLICIT_ACCEPT);
    let client = server.connect_again().unwrap();
    let c = open_client(&client);
    client.send_to_server(c, sen::ACCEPT, &msg(5, b"x")).unwrap();
    let tid = client.get_tid(c, 0).unwrap();
    expect(&server, s, MsgType::Msg1);
    drop(client);
    assert_quiet(&server, s);
    server.accept_tx(s, 0, 0).unwrap();
    expect_accepted(&server, s, tid);
}

#[test]
fn client_death_before_its_transaction_reached_a_server() {
    // The transaction waits in the partition (its only server is busy) when the client dies.
    let server = Rtr::embedded().unwrap();
    let s = open_server(&server, 1, 100, ope::EXPLICIT_ACCEPT);
    let busy = open_client(&server);
    server.send_to_server(busy, 0, &msg(1, b"busy")).unwrap();
    let t_busy = server.get_tid(busy, 0).unwrap();
    expect(&server, s, MsgType::Msg1);
    let client = server.connect_again().unwrap();
    let c = open_client(&client);
    client.send_to_server(c, 0, &msg(2, b"waits")).unwrap();
    let t_dead = client.get_tid(c, 0).unwrap();
    drop(client);
    // Finish the first. The node may learn of the death a little after the
    // drop (the node thread can hold the connection while delivering to it),
    // so the dead client's transaction may still be presented, but then it
    // must be rejected with REQDIED, and only once.
    server.accept_tx(busy, 0, 0).unwrap();
    server.accept_tx(s, 0, 0).unwrap();
    expect_accepted(&server, s, t_busy);
    expect_accepted(&server, busy, t_busy);
    match server.receive(&Which::List(vec![s]), Some(QUIET)) {
        Err(RtrError::Timeout) => {}
        Ok(m) => {
            assert_eq!((m.sb.msgtype, m.sb.tid), (MsgType::Msg1, t_dead), "{m:?}");
            expect_rejected(&server, s, t_dead, Status::Reqdied, 0);
        }
        Err(e) => panic!("{e:?}"),
    }
    assert_quiet(&server, s);
}

#[test]
fn last_server_gone_then_a_new_server_gets_the_held_transaction() {
    let rtr = Rtr::embedded().unwrap();
    let s1 = open_server(&rtr, 1, 100, 0);
    let c = open_client(&rtr);
    rtr.send_to_server(c, 0, &msg(5, b"held")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    expect(&rtr, s1, MsgType::Msg1);
    rtr.close_channel(s1, 0).unwrap();
    rtr.accept_tx(c, 0, 0).unwrap();
    // No server: the transaction is held, not rejected.
    assert_quiet(&rtr, c);
    let s2 = open_server(&rtr, 1, 100, 0);
    let m = expect(&rtr, s2, MsgType::Msg1);
    assert_eq!(m.sb.tid, tid);
    assert_eq!(m.data, msg(5, b"held"));
    expect_accepted(&rtr, s2, tid);
    expect_accepted(&rtr, c, tid);
}

#[test]
fn held_transaction_waits_for_a_server_in_a_new_process() {
    let client = Rtr::embedded().unwrap();
    let node = client.node().expect("an embedded node");
    let p1 = Rtr::connect(&node).unwrap();
    let s1 = open_server(&p1, 1, 100, ope::EXPLICIT_PREPARE);
    let c = open_client(&client);
    client.send_to_server(c, 0, &msg(5, b"held")).unwrap();
    let tid = client.get_tid(c, 0).unwrap();
    expect(&p1, s1, MsgType::Msg1);
    client.accept_tx(c, 0, 0).unwrap();
    expect(&p1, s1, MsgType::Prepare);
    drop(p1);
    assert_quiet(&client, c);
    let p2 = Rtr::connect(&node).unwrap();
    let s2 = open_server(&p2, 1, 100, ope::EXPLICIT_PREPARE);
    expect(&p2, s2, MsgType::Msg1);
    expect(&p2, s2, MsgType::Prepare);
    p2.accept_tx(s2, 0, 0).unwrap();
    expect_accepted(&p2, s2, tid);
    expect_accepted(&client, c, tid);
}

#[test]
fn held_transaction_ends_at_its_timeout() {
    let rtr = Rtr::embedded().unwrap();
    let s1 = open_server(&rtr, 1, 100, 0);
    let c = open_client(&rtr);
    rtr.start_tx(c, 0, Some(300)).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    rtr.send_to_server(c, 0, &msg(5, b"held")).unwrap();
    expect(&rtr, s1, MsgType::Msg1);
    rtr.close_channel(s1, 0).unwrap();
    expect_rejected(&rtr, c, tid, Status::Timout, 0);
    // The partition is gone with its last transaction: a new server may declare any range.
    let s2 = open_server(&rtr, 50, 150, 0);
    assert_quiet(&rtr, s2);
}

#[test]
fn held_transaction_ends_when_the_client_rejects() {
    let rtr = Rtr::embedded().unwrap();
    let s1 = open_server(&rtr, 1, 100, 0);
    let c = open_client(&rtr);
    rtr.send_to_server(c, 0, &msg(5, b"held")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    expect(&rtr, s1, MsgType::Msg1);
    rtr.close_channel(s1, 0).unwrap();
    rtr.reject_tx(c, 0, 3).unwrap();
    expect_rejected(&rtr, c, tid, Status::Rejected, 3);
    let s2 = open_server(&rtr, 1, 100, 0);
    assert_quiet(&rtr, s2);
}

#[test]
fn lost_vote_of_the_only_server_holds_the_commit_until_a_new_server_votes() {
    let rtr = Rtr::embedded().unwrap();
    let a = open_server(&rtr, 1, 100, ope::EXPLICIT_PREPARE);
    let b = open_server(&rtr, 101, 200, ope::EXPLICIT_ACCEPT);
    let c = open_client(&rtr);
    rtr.send_to_server(c, 0, &msg(1, b"a")).unwrap();
    rtr.send_to_server(c, 0, &msg(101, b"b")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    expect(&rtr, a, MsgType::Msg1);
    expect(&rtr, b, MsgType::Msg1);
    rtr.accept_tx(c, 0, 0).unwrap();
    expect(&rtr, a, MsgType::Prepare);
    rtr.accept_tx(a, 0, 0).unwrap();
    // A's only server dies after voting: its vote (and its uncommitted
    // database work) goes with it, so B's vote alone cannot commit.
    rtr.close_channel(a, 0).unwrap();
    rtr.accept_tx(b, 0, 0).unwrap();
    assert_quiet(&rtr, c);
    // A new server of partition A redoes the work and votes again.
    let a2 = open_server(&rtr, 1, 100, ope::EXPLICIT_PREPARE);
    let m = expect(&rtr, a2, MsgType::Msg1Uncertain);
    assert_eq!(m.sb.tid, tid);
    assert_eq!(m.data, msg(1, b"a"));
    expect(&rtr, a2, MsgType::Prepare);
    rtr.accept_tx(a2, 0, 0).unwrap();
    expect_accepted(&rtr, a2, tid);
    expect_accepted(&rtr, b, tid);
    expect_accepted(&rtr, c, tid);
    assert_quiet(&rtr, a2);
}

#[test]
fn server_that_received_the_commit_and_closed_is_not_replayed() {
    let rtr = Rtr::embedded().unwrap();
    let s1 = open_server(&rtr, 1, 100, 0);
    let s2 = open_server(&rtr, 1, 100, 0);
    let c = open_client(&rtr);
    rtr.send_to_server(c, sen::ACCEPT, &msg(5, b"work")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    let m = msg1_on(&rtr, &[s1, s2]);
    let (gone, other) = if m.sb.channel == s1 { (s1, s2) } else { (s2, s1) };
    expect_accepted(&rtr, gone, tid);
    expect_accepted(&rtr, c, tid);
    // It read the commit: closing is its acknowledgement.
    rtr.close_channel(gone, 0).unwrap();
    assert_quiet(&rtr, other);
}

#[test]
fn closing_a_server_discards_its_queued_messages() {
    let rtr = Rtr::embedded().unwrap();
    let s1 = open_server(&rtr, 1, 100, 0);
    let s2 = open_server(&rtr, 1, 100, 0);
    let c = open_client(&rtr);
    rtr.send_to_server(c, 0, &msg(1, b"a")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    // s1 (the first free server) got the Msg1 but never read it: closing it
    // discards the queued message, and the node presents the transaction to s2.
    rtr.close_channel(s1, 0).unwrap();
    let m = expect(&rtr, s2, MsgType::Msg1);
    assert_eq!(m.sb.tid, tid);
    rtr.accept_tx(c, 0, 0).unwrap();
    expect_accepted(&rtr, s2, tid);
    expect_accepted(&rtr, c, tid);
}

#[test]
fn replayed_transaction_goes_ahead_of_newer_work() {
    let rtr = Rtr::embedded().unwrap();
    let s1 = open_server(&rtr, 1, 100, ope::EXPLICIT_ACCEPT);
    let clients: Vec<u32> = (0..3).map(|_| open_client(&rtr)).collect();
    let mut tids = Vec::new();
    for (i, &c) in clients.iter().enumerate() {
        rtr.send_to_server(c, sen::ACCEPT, &msg(1 + i as u32, b"t")).unwrap();
        tids.push(rtr.get_tid(c, 0).unwrap());
    }
    assert_eq!(expect(&rtr, s1, MsgType::Msg1).sb.tid, tids[0]);
    // The first is in progress, the others wait; the server goes away.
    rtr.close_channel(s1, 0).unwrap();
    let s2 = open_server(&rtr, 1, 100, ope::EXPLICIT_ACCEPT);
    for (i, &c) in clients.iter().enumerate() {
        let m = expect(&rtr, s2, MsgType::Msg1);
        assert_eq!(m.sb.tid, tids[i], "transaction {i} out of order");
        rtr.accept_tx(s2, 0, 0).unwrap();
        expect_accepted(&rtr, s2, tids[i]);
        expect_accepted(&rtr, c, tids[i]);
    }
}

#[test]
fn process_with_client_and_server_channels_dies() {
    // A process that is a server of one facility and a client of another.
    let main = Rtr::embedded().unwrap();
    let node = main.node().expect("an embedded node");
    let mid = Rtr::connect(&node).unwrap();
    let front = open_client_in(&main, "FRONT");
    let mid_server = open_server_in(&mid, "FRONT", 0, 100, 0);
    let mid_client = open_client_in(&mid, "BACK");
    let back = open_server_in(&main, "BACK", 0, 100, 0);
    let backup = open_server_in(&main, "FRONT", 0, 100, 0);

    main.send_to_server(front, 0, &msg(1, b"outer")).unwrap();
    let outer = main.get_tid(front, 0).unwrap();
    let m = mid.receive(&Which::List(vec![mid_server]), Some(WAIT)).unwrap();
    assert_eq!((m.sb.msgtype, m.sb.tid), (MsgType::Msg1, outer));
    // Only the client channel is listed: no implicit accept of mid_server.
    mid.send_to_server(mid_client, 0, &msg(2, b"inner")).unwrap();
    let inner = mid.get_tid(mid_client, 0).unwrap();
    assert_ne!(inner, outer);
    assert_eq!(expect(&main, back, MsgType::Msg1).sb.tid, inner);
    main.reply_to_client(back, 0, b"inner reply").unwrap();
    assert_eq!(expect(&mid, mid_client, MsgType::Reply).data, b"inner reply");
    drop(mid);
    // Its client transaction dies with it; its server transaction moves on.
    expect_rejected(&main, back, inner, Status::Reqdied, 0);
    let m = expect(&main, backup, MsgType::Msg1);
    assert_eq!(m.sb.tid, outer);
    main.accept_tx(front, 0, 0).unwrap();
    expect_accepted(&main, backup, outer);
    expect_accepted(&main, front, outer);
}

#[test]
fn server_gone_before_receiving_the_commit_gets_it_replayed() {
    let rtr = Rtr::embedded().unwrap();
    let s1 = open_server(&rtr, 1, 100, 0);
    let s2 = open_server(&rtr, 1, 100, 0);
    let c = open_client(&rtr);
    rtr.send_to_server(c, 0, &msg(5, b"work")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    let m = msg1_on(&rtr, &[s1, s2]);
    let (gone, other) = if m.sb.channel == s1 { (s1, s2) } else { (s2, s1) };
    rtr.accept_tx(gone, 0, 0).unwrap();
    rtr.accept_tx(c, 0, 0).unwrap();
    // The commit is decided and on its way to the server...
    expect_accepted(&rtr, c, tid);
    // ...which dies before it reads rtr_mt_accepted, so its database never
    // committed. RTR must present the transaction again (it may have
    // committed: uncertain) and then its outcome.
    rtr.close_channel(gone, 0).unwrap();
    let m = expect(&rtr, other, MsgType::Msg1Uncertain);
    assert_eq!(m.sb.tid, tid);
    expect_accepted(&rtr, other, tid);
}

#[test]
fn receive_blocked_on_a_channel_closed_by_another_thread_returns_at_once() {
    let rtr = Rtr::embedded().unwrap();
    let c = open_client(&rtr);
    let r2 = rtr.clone();
    let waiter = std::thread::spawn(move || {
        let t0 = Instant::now();
        let r = r2.receive(&Which::List(vec![c]), Some(Duration::from_secs(3)));
        (r.map(|m| m.sb), t0.elapsed())
    });
    std::thread::sleep(Duration::from_millis(100));
    rtr.close_channel(c, 0).unwrap();
    let (r, waited) = waiter.join().unwrap();
    assert!(matches!(r, Err(RtrError::InvalidReceiveList(_))), "receive on a closed channel: {r:?}");
    assert!(waited < Duration::from_secs(1), "the receive slept {waited:?} after its channel was closed");
}

#[test]
fn journaled_node_replays_an_unacknowledged_commit_after_restart() {
    use rtr_core::runtime::EmbeddedConfig;
    let dir = tempfile::tempdir().unwrap();
    // Retry while the previous node still holds the journal: the last drop of
    // an `Rtr` may finish on the node thread (see
    // dropping_the_last_connection_stops_the_node_at_once).
    let start = || {
        let t0 = Instant::now();
        loop {
            match Rtr::embedded_with(EmbeddedConfig::journaled(dir.path())) {
                Ok(r) => return r,
                Err(e) if t0.elapsed() < WAIT => {
                    assert!(e.to_string().contains("locked"), "{e}");
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("{e}"),
            }
        }
    };
    let (committed, undecided);
    {
        let rtr = start();
        let s = open_server(&rtr, 1, 100, 0);
        let b = open_server(&rtr, 101, 200, ope::EXPLICIT_ACCEPT);
        let c = open_client(&rtr);
        let c2 = open_client(&rtr);
        rtr.send_to_server(c, sen::ACCEPT, &msg(5, b"durable")).unwrap();
        committed = rtr.get_tid(c, 0).unwrap();
        expect(&rtr, s, MsgType::Msg1);
        // The server reads the commit but never asks for its next message.
        expect_accepted(&rtr, s, committed);
        expect_accepted(&rtr, c, committed);
        rtr.send_to_server(c2, sen::ACCEPT, &msg(150, b"undecided")).unwrap();
        undecided = rtr.get_tid(c2, 0).unwrap();
        expect(&rtr, b, MsgType::Msg1);
    } // The node and every process go away.
    {
        let rtr = start();
        let b = open_server(&rtr, 101, 200, ope::EXPLICIT_ACCEPT);
        let s = open_server(&rtr, 1, 100, 0);
        let m = expect(&rtr, s, MsgType::Msg1Uncertain);
        assert_eq!(m.sb.tid, committed);
        assert_eq!(m.data, msg(5, b"durable"));
        expect_accepted(&rtr, s, committed);
        // Receiving again acknowledges it; the undecided one was aborted.
        assert_quiet(&rtr, s);
        assert_quiet(&rtr, b);
        assert_ne!(committed, undecided);
    }
    // Acknowledged: a third start replays nothing.
    let rtr = start();
    let s = open_server(&rtr, 1, 100, 0);
    assert_quiet(&rtr, s);
}

#[test]
fn dropping_the_last_connection_stops_the_node_at_once() {
    use rtr_core::runtime::EmbeddedConfig;
    let dir = tempfile::tempdir().unwrap();
    for round in 0..50 {
        let rtr = Rtr::embedded_with(EmbeddedConfig::journaled(dir.path()))
            .unwrap_or_else(|e| panic!("round {round}: the previous node still runs: {e}"));
        // A receive woken by a delivery, then the process lets go of RTR.
        open_client(&rtr);
        drop(rtr);
    }
}
