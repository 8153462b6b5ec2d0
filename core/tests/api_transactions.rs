//! Transactions through the channel API: round trips, the server voting
//! modes, client shortcuts, several partitions, routing by key, transaction
//! timeouts, user handles and receiving over several channels.

mod common;

use std::time::{Duration, Instant};

use common::*;
use rtr_core::flags::{ope, rep, sen};
use rtr_core::{MsgType, OpenParams, Rtr, RtrError, Status, Tid, Which};

// ---------------------------------------------------------------- round trip

#[test]
fn round_trip_msg1_reply_accept_outcome_on_both_sides() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_server(&rtr, 1, 100, 0);
    let c = open_client(&rtr);

    // Implicit start: no transaction before the first send.
    assert_eq!(err_status(rtr.get_tid(c, 0)), Status::Notacttx);
    rtr.send_to_server(c, 0, &msg(5, b"hello")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    assert_ne!(tid, Tid::default());

    let m = expect(&rtr, s, MsgType::Msg1);
    assert_eq!(m.sb.tid, tid, "client and server tids must be equal");
    assert_eq!(m.data, msg(5, b"hello"));
    assert_eq!(m.sb.msglen, m.data.len());
    assert!(!m.sb.truncated);
    assert_eq!(m.status(), None, "data messages carry no status");
    assert_eq!(rtr.get_tid(s, 0).unwrap(), tid);

    rtr.reply_to_client(s, 0, b"world").unwrap();
    let r = expect(&rtr, c, MsgType::Reply);
    assert_eq!(r.sb.tid, tid);
    assert_eq!(r.data, b"world");

    rtr.accept_tx(c, 0, 0).unwrap();
    expect_accepted(&rtr, s, tid);
    expect_accepted(&rtr, c, tid);

    // Both sides are idle again.
    assert_eq!(err_status(rtr.get_tid(c, 0)), Status::Notacttx);
    assert_eq!(err_status(rtr.get_tid(s, 0)), Status::Notacttx);
    assert_quiet(&rtr, c);
    assert_quiet(&rtr, s);
}

#[test]
fn a_server_channel_reports_the_fence_of_its_last_transaction_message() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_server(&rtr, 1, 100, 0);
    let c = open_client(&rtr);
    assert_eq!(rtr.get_fence(s).unwrap(), 0, "nothing received yet");
    assert_eq!(err_status(rtr.get_fence(c)), Status::Invop4cli, "a client takes no work");
    assert_eq!(err_status(rtr.get_fence(9999)), Status::Invchannel);
    rtr.send_to_server(c, sen::ACCEPT, &msg(5, b"hello")).unwrap();
    let m = expect(&rtr, s, MsgType::Msg1);
    // The one node holds the key range under its first grant.
    let fence = rtr.get_fence(s).unwrap();
    assert_eq!(fence, 1);
    expect_accepted(&rtr, s, m.sb.tid);
    assert_eq!(rtr.get_fence(s).unwrap(), fence, "the commit came under the same grant");
}

#[test]
fn client_and_server_in_different_processes() {
    let server = Rtr::embedded().unwrap();
    let client = server.connect_again().unwrap();
    let s = open_server(&server, 1, 100, 0);
    let c = open_client(&client);
    let t1 = round_trip(&client, c, &server, s, 7);
    let t2 = round_trip(&client, c, &server, s, 8);
    assert_ne!(t1, t2, "every transaction has a new tid");
}

#[test]
fn explicit_start_tx_gives_tid_before_any_send() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_server(&rtr, 1, 100, 0);
    let c = open_client(&rtr);
    rtr.start_tx(c, 0, None).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    assert_ne!(tid, Tid::default());
    // The tid is stable across the transaction.
    rtr.send_to_server(c, 0, &msg(1, b"a")).unwrap();
    assert_eq!(rtr.get_tid(c, 0).unwrap(), tid);
    let m = expect(&rtr, s, MsgType::Msg1);
    assert_eq!(m.sb.tid, tid);
    rtr.accept_tx(c, 0, 0).unwrap();
    expect_accepted(&rtr, s, tid);
    expect_accepted(&rtr, c, tid);
}

#[test]
fn get_tid_accepts_rtr_tid_flag() {
    let rtr = Rtr::embedded().unwrap();
    let c = open_client(&rtr);
    rtr.start_tx(c, 0, None).unwrap();
    assert_eq!(rtr.get_tid(c, rtr_core::flags::tid::RTR).unwrap(), rtr.get_tid(c, 0).unwrap());
    rtr.reject_tx(c, 0, 0).unwrap();
}

#[test]
fn client_may_start_the_next_transaction_only_after_receiving_the_outcome() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_server(&rtr, 1, 100, 0);
    let c = open_client(&rtr);
    rtr.send_to_server(c, sen::ACCEPT, &msg(3, b"x")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    expect(&rtr, s, MsgType::Msg1);
    expect_accepted(&rtr, s, tid);
    // The outcome is on its way but not received: the old transaction is
    // still the channel's, and it is accepted.
    assert_eq!(err_status(rtr.send_to_server(c, 0, &msg(3, b"y"))), Status::Txalracc);
    assert_eq!(err_status(rtr.start_tx(c, 0, None)), Status::Txactive);
    expect_accepted(&rtr, c, tid);
    rtr.send_to_server(c, 0, &msg(3, b"y")).unwrap();
    let tid2 = rtr.get_tid(c, 0).unwrap();
    assert_ne!(tid, tid2);
    let m = expect(&rtr, s, MsgType::Msg1);
    assert_eq!(m.sb.tid, tid2);
    assert_eq!(m.data, msg(3, b"y"));
    rtr.accept_tx(c, 0, 0).unwrap();
    expect_accepted(&rtr, s, tid2);
    expect_accepted(&rtr, c, tid2);
}

#[test]
fn empty_transaction_started_and_accepted_commits() {
    let rtr = Rtr::embedded().unwrap();
    let c = open_client(&rtr);
    rtr.start_tx(c, 0, None).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    rtr.accept_tx(c, 0, 0).unwrap();
    expect_accepted(&rtr, c, tid);
}

#[test]
fn client_accept_reason_reaches_the_server() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_server(&rtr, 1, 100, 0);
    let c = open_client(&rtr);
    rtr.send_to_server(c, 0, &msg(1, b"a")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    expect(&rtr, s, MsgType::Msg1);
    rtr.accept_tx(c, 0, 1234).unwrap();
    expect_outcome(&rtr, s, MsgType::Accepted, tid, Status::Ok, 1234);
    expect_outcome(&rtr, c, MsgType::Accepted, tid, Status::Ok, 1234);
}

// ------------------------------------------------------------- voting modes

#[test]
fn default_server_accepts_implicitly_and_never_sees_prepare() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_server(&rtr, 1, 100, 0);
    let c = open_client(&rtr);
    for round in 0..3u32 {
        rtr.send_to_server(c, 0, &msg(round + 1, b"m")).unwrap();
        let tid = rtr.get_tid(c, 0).unwrap();
        expect(&rtr, s, MsgType::Msg1);
        rtr.accept_tx(c, 0, 0).unwrap();
        // The server's next receive is its accept: it sees the outcome, never a prepare.
        let m = recv(&rtr, s);
        assert_eq!(m.sb.msgtype, MsgType::Accepted, "round {round}: {m:?}");
        assert_eq!(m.sb.tid, tid);
        expect_accepted(&rtr, c, tid);
    }
}

#[test]
fn default_server_votes_only_when_it_receives_again() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_server(&rtr, 1, 100, 0);
    let c = open_client(&rtr);
    rtr.send_to_server(c, 0, &msg(1, b"a")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    expect(&rtr, s, MsgType::Msg1);
    rtr.accept_tx(c, 0, 0).unwrap();
    // The server has not called receive again: no vote, so no outcome yet.
    assert_quiet(&rtr, c);
    expect_accepted(&rtr, s, tid);
    expect_accepted(&rtr, c, tid);
}

#[test]
fn default_server_can_still_vote_explicitly() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_server(&rtr, 1, 100, 0);
    let c = open_client(&rtr);
    rtr.send_to_server(c, 0, &msg(1, b"a")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    expect(&rtr, s, MsgType::Msg1);
    rtr.accept_tx(s, 0, 0).unwrap();
    assert_eq!(err_status(rtr.accept_tx(s, 0, 0)), Status::Txalracc);
    assert_eq!(err_status(rtr.reject_tx(s, 0, 0)), Status::Txalracc);
    rtr.accept_tx(c, 0, 0).unwrap();
    expect_accepted(&rtr, c, tid);
    expect_accepted(&rtr, s, tid);
}

#[test]
fn explicit_prepare_server_sees_prepare_then_votes_with_accept_tx() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_server(&rtr, 1, 100, ope::EXPLICIT_PREPARE);
    let c = open_client(&rtr);
    rtr.send_to_server(c, 0, &msg(1, b"a")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    expect(&rtr, s, MsgType::Msg1);
    rtr.accept_tx(c, 0, 0).unwrap();
    let p = expect(&rtr, s, MsgType::Prepare);
    assert_eq!(p.sb.tid, tid);
    assert_eq!(p.sb.msglen, 0);
    assert!(p.data.is_empty());
    // Not voted yet: the client waits.
    assert_quiet(&rtr, c);
    rtr.accept_tx(s, 0, 0).unwrap();
    expect_accepted(&rtr, s, tid);
    expect_accepted(&rtr, c, tid);
}

#[test]
fn explicit_prepare_server_votes_implicitly_by_receiving_again() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_server(&rtr, 1, 100, ope::EXPLICIT_PREPARE);
    let c = open_client(&rtr);
    rtr.send_to_server(c, sen::ACCEPT, &msg(1, b"a")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    expect(&rtr, s, MsgType::Msg1);
    expect(&rtr, s, MsgType::Prepare);
    expect_accepted(&rtr, s, tid);
    expect_accepted(&rtr, c, tid);
}

#[test]
fn explicit_prepare_server_rejects_on_prepare() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_server(&rtr, 1, 100, ope::EXPLICIT_PREPARE);
    let c = open_client(&rtr);
    rtr.send_to_server(c, 0, &msg(1, b"a")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    expect(&rtr, s, MsgType::Msg1);
    rtr.accept_tx(c, 0, 0).unwrap();
    expect(&rtr, s, MsgType::Prepare);
    rtr.reject_tx(s, 0, 99).unwrap();
    expect_rejected(&rtr, s, tid, Status::Rejected, 99);
    expect_rejected(&rtr, c, tid, Status::Rejected, 99);
}

#[test]
fn explicit_accept_server_is_not_voted_by_receiving_again() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_server(&rtr, 1, 100, ope::EXPLICIT_ACCEPT);
    let c = open_client(&rtr);
    rtr.send_to_server(c, 0, &msg(1, b"a")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    expect(&rtr, s, MsgType::Msg1);
    rtr.accept_tx(c, 0, 0).unwrap();
    // Receiving again twice: no prepare (not EXPLICIT_PREPARE), no vote.
    assert_quiet(&rtr, s);
    assert_quiet(&rtr, s);
    assert_quiet(&rtr, c);
    assert_eq!(rtr.get_tid(s, 0).unwrap(), tid);
    rtr.accept_tx(s, 0, 0).unwrap();
    expect_accepted(&rtr, s, tid);
    expect_accepted(&rtr, c, tid);
}

#[test]
fn explicit_accept_and_prepare_server_sees_prepare_and_must_accept() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_server(&rtr, 1, 100, ope::EXPLICIT_ACCEPT | ope::EXPLICIT_PREPARE);
    let c = open_client(&rtr);
    rtr.send_to_server(c, sen::ACCEPT, &msg(1, b"a")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    expect(&rtr, s, MsgType::Msg1);
    expect(&rtr, s, MsgType::Prepare);
    assert_quiet(&rtr, s);
    assert_quiet(&rtr, c);
    rtr.accept_tx(s, 0, 0).unwrap();
    expect_accepted(&rtr, s, tid);
    expect_accepted(&rtr, c, tid);
}

#[test]
fn early_server_accept_means_no_prepare() {
    for mode in [0, ope::EXPLICIT_PREPARE, ope::EXPLICIT_ACCEPT | ope::EXPLICIT_PREPARE] {
        let rtr = Rtr::embedded().unwrap();
        let s = open_server(&rtr, 1, 100, mode);
        let c = open_client(&rtr);
        rtr.send_to_server(c, 0, &msg(1, b"a")).unwrap();
        let tid = rtr.get_tid(c, 0).unwrap();
        expect(&rtr, s, MsgType::Msg1);
        rtr.accept_tx(s, 0, 0).unwrap();
        // The server voted first; the client has not accepted yet.
        assert_quiet(&rtr, c);
        rtr.send_to_server(c, 0, &msg(1, b"b")).unwrap();
        expect(&rtr, s, MsgType::Msgn);
        rtr.accept_tx(c, 0, 0).unwrap();
        let m = recv(&rtr, s);
        assert_eq!(m.sb.msgtype, MsgType::Accepted, "mode {mode:#x}: {m:?}");
        assert_eq!(m.sb.tid, tid);
        expect_accepted(&rtr, c, tid);
    }
}

#[test]
fn rep_accept_reply_is_the_servers_vote() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_server(&rtr, 1, 100, ope::EXPLICIT_ACCEPT | ope::EXPLICIT_PREPARE);
    let c = open_client(&rtr);
    rtr.send_to_server(c, 0, &msg(1, b"a")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    expect(&rtr, s, MsgType::Msg1);
    rtr.reply_to_client(s, rep::ACCEPT, b"done").unwrap();
    assert_eq!(err_status(rtr.accept_tx(s, 0, 0)), Status::Txalracc);
    assert_eq!(err_status(rtr.reply_to_client(s, rep::ACCEPT, b"again")), Status::Txalracc);
    let r = expect(&rtr, c, MsgType::Reply);
    assert_eq!(r.data, b"done");
    rtr.accept_tx(c, 0, 0).unwrap();
    // Voted already: no prepare even with EXPLICIT_PREPARE.
    expect_accepted(&rtr, s, tid);
    expect_accepted(&rtr, c, tid);
}

#[test]
fn server_reject_with_reason_rejects_both_sides() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_server(&rtr, 1, 100, 0);
    let c = open_client(&rtr);
    rtr.send_to_server(c, 0, &msg(1, b"a")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    expect(&rtr, s, MsgType::Msg1);
    rtr.reject_tx(s, 0, 4711).unwrap();
    assert_eq!(err_status(rtr.reject_tx(s, 0, 1)), Status::Txalracc);
    expect_rejected(&rtr, c, tid, Status::Rejected, 4711);
    expect_rejected(&rtr, s, tid, Status::Rejected, 4711);
    assert_eq!(Status::Rejected.name(), "RTR_STS_REJECTED");
    // The client may start again.
    assert_eq!(err_status(rtr.accept_tx(c, 0, 0)), Status::Notacttx);
    round_trip(&rtr, c, &rtr, s, 2);
}

#[test]
fn server_reject_after_client_accept() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_server(&rtr, 1, 100, ope::EXPLICIT_ACCEPT);
    let c = open_client(&rtr);
    rtr.send_to_server(c, sen::ACCEPT, &msg(1, b"a")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    expect(&rtr, s, MsgType::Msg1);
    assert_quiet(&rtr, c);
    rtr.reject_tx(s, 0, 8).unwrap();
    expect_rejected(&rtr, s, tid, Status::Rejected, 8);
    expect_rejected(&rtr, c, tid, Status::Rejected, 8);
}

#[test]
fn client_reject_with_reason_rejects_both_sides() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_server(&rtr, 1, 100, 0);
    let c = open_client(&rtr);
    rtr.send_to_server(c, 0, &msg(1, b"a")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    expect(&rtr, s, MsgType::Msg1);
    rtr.reject_tx(c, 0, 31).unwrap();
    // Rejected, but not received yet: the transaction is still the channel's.
    assert_eq!(rtr.get_tid(c, 0).unwrap(), tid);
    expect_rejected(&rtr, s, tid, Status::Rejected, 31);
    expect_rejected(&rtr, c, tid, Status::Rejected, 31);
    assert_eq!(err_status(rtr.get_tid(c, 0)), Status::Notacttx);
    assert_eq!(err_status(rtr.get_tid(s, 0)), Status::Notacttx);
}

#[test]
fn client_reject_before_any_send_after_start() {
    let rtr = Rtr::embedded().unwrap();
    let c = open_client(&rtr);
    rtr.start_tx(c, 0, None).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    rtr.reject_tx(c, 0, 5).unwrap();
    expect_rejected(&rtr, c, tid, Status::Rejected, 5);
}

// --------------------------------------------------- client shortcuts, msgn

#[test]
fn sen_accept_is_the_clients_accept() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_server(&rtr, 1, 100, 0);
    let c = open_client(&rtr);
    rtr.send_to_server(c, 0, &msg(1, b"first")).unwrap();
    rtr.send_to_server(c, sen::ACCEPT, &msg(2, b"last")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    assert_eq!(err_status(rtr.send_to_server(c, 0, &msg(1, b"late"))), Status::Txalracc);
    assert_eq!(err_status(rtr.accept_tx(c, 0, 0)), Status::Txalracc);
    assert_eq!(err_status(rtr.reject_tx(c, 0, 0)), Status::Txalracc);
    assert_eq!(expect(&rtr, s, MsgType::Msg1).data, msg(1, b"first"));
    assert_eq!(expect(&rtr, s, MsgType::Msgn).data, msg(2, b"last"));
    expect_accepted(&rtr, s, tid);
    expect_accepted(&rtr, c, tid);
}

#[test]
fn multi_message_transaction_arrives_in_order() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_server(&rtr, 1, 100, 0);
    let c = open_client(&rtr);
    let n = 20u32;
    for i in 0..n {
        rtr.send_to_server(c, 0, &msg(1 + i % 50, format!("part {i}").as_bytes())).unwrap();
    }
    let tid = rtr.get_tid(c, 0).unwrap();
    for i in 0..n {
        let m = recv(&rtr, s);
        let want = if i == 0 { MsgType::Msg1 } else { MsgType::Msgn };
        assert_eq!(m.sb.msgtype, want, "message {i}");
        assert_eq!(m.sb.tid, tid);
        assert_eq!(m.data, msg(1 + i % 50, format!("part {i}").as_bytes()));
        rtr.reply_to_client(s, 0, format!("ack {i}").as_bytes()).unwrap();
    }
    for i in 0..n {
        let r = expect(&rtr, c, MsgType::Reply);
        assert_eq!(r.data, format!("ack {i}").as_bytes());
    }
    rtr.accept_tx(c, 0, 0).unwrap();
    expect_accepted(&rtr, s, tid);
    expect_accepted(&rtr, c, tid);
}

#[test]
fn largest_and_empty_messages() {
    let rtr = Rtr::embedded().unwrap();
    // A server with no key segments takes every message, even an empty one.
    let s = open_ok(&rtr, OpenParams { flags: ope::SERVER, facility: Some("NOKEYS".into()), ..Default::default() });
    let c = open_client_in(&rtr, "NOKEYS");
    rtr.send_to_server(c, 0, &[]).unwrap();
    let big: Vec<u8> = (0..rtr_core::MAX_MSGLEN).map(|i| (i % 251) as u8).collect();
    rtr.send_to_server(c, 0, &big).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    let m = expect(&rtr, s, MsgType::Msg1);
    assert_eq!(m.sb.msglen, 0);
    assert!(m.data.is_empty());
    let m = expect(&rtr, s, MsgType::Msgn);
    assert_eq!(m.data, big);
    rtr.reply_to_client(s, 0, &big).unwrap();
    rtr.reply_to_client(s, 0, &[]).unwrap();
    assert_eq!(expect(&rtr, c, MsgType::Reply).data, big);
    assert!(expect(&rtr, c, MsgType::Reply).data.is_empty());
    rtr.accept_tx(c, 0, 0).unwrap();
    expect_accepted(&rtr, s, tid);
    expect_accepted(&rtr, c, tid);
}

// ----------------------------------------------------------- two partitions

fn two_partitions(extra: u32) -> (Rtr, u32, u32, u32) {
    let rtr = Rtr::embedded().unwrap();
    let a = open_server(&rtr, 1, 100, extra);
    let b = open_server(&rtr, 101, 200, extra);
    let c = open_client(&rtr);
    (rtr, a, b, c)
}

#[test]
fn two_partitions_both_vote_and_both_commit() {
    let (rtr, a, b, c) = two_partitions(ope::EXPLICIT_PREPARE);
    rtr.send_to_server(c, 0, &msg(50, b"to a")).unwrap();
    rtr.send_to_server(c, 0, &msg(150, b"to b")).unwrap();
    rtr.send_to_server(c, 0, &msg(100, b"a again")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    assert_eq!(expect(&rtr, a, MsgType::Msg1).sb.tid, tid);
    assert_eq!(expect(&rtr, a, MsgType::Msgn).data, msg(100, b"a again"));
    assert_eq!(expect(&rtr, b, MsgType::Msg1).sb.tid, tid);
    rtr.accept_tx(c, 0, 0).unwrap();
    expect(&rtr, a, MsgType::Prepare);
    expect(&rtr, b, MsgType::Prepare);
    rtr.accept_tx(a, 0, 0).unwrap();
    // One vote is not enough.
    assert_quiet(&rtr, c);
    rtr.accept_tx(b, 0, 0).unwrap();
    expect_accepted(&rtr, a, tid);
    expect_accepted(&rtr, b, tid);
    expect_accepted(&rtr, c, tid);
}

#[test]
fn two_partitions_implicit_votes_commit() {
    let (rtr, a, b, c) = two_partitions(0);
    rtr.send_to_server(c, 0, &msg(1, b"a")).unwrap();
    rtr.send_to_server(c, sen::ACCEPT, &msg(200, b"b")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    expect(&rtr, a, MsgType::Msg1);
    expect(&rtr, b, MsgType::Msg1);
    // One receive over both server channels votes for both.
    let m = rtr.receive(&Which::List(vec![a, b]), Some(WAIT)).unwrap();
    assert_eq!(m.sb.msgtype, MsgType::Accepted);
    let m2 = rtr.receive(&Which::List(vec![a, b]), Some(WAIT)).unwrap();
    assert_eq!(m2.sb.msgtype, MsgType::Accepted);
    let mut chans = [m.sb.channel, m2.sb.channel];
    chans.sort();
    assert_eq!(chans, [a, b]);
    expect_accepted(&rtr, c, tid);
}

/// A receive votes (implicitly) for the channels it lists only: the
/// library looks the listed channels up rather than scanning all of them,
/// and must not settle another channel's vote on the way.
#[test]
fn a_receive_votes_for_its_listed_channels_only() {
    let (rtr, a, b, c) = two_partitions(0);
    rtr.send_to_server(c, 0, &msg(1, b"a")).unwrap();
    rtr.send_to_server(c, sen::ACCEPT, &msg(200, b"b")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    expect(&rtr, a, MsgType::Msg1);
    expect(&rtr, b, MsgType::Msg1);
    // a votes; b has not: no outcome for anyone yet.
    assert_eq!(rtr.receive(&Which::List(vec![a]), Some(Duration::from_millis(300))).unwrap_err(), RtrError::Timeout);
    assert_quiet(&rtr, c);
    assert_eq!(rtr.receive(&Which::List(vec![c, a]), Some(Duration::from_millis(100))).unwrap_err(), RtrError::Timeout);
    // b's receive is its vote: the transaction commits.
    let m = rtr.receive(&Which::List(vec![b]), Some(WAIT)).unwrap();
    assert_eq!((m.sb.channel, m.sb.msgtype), (b, MsgType::Accepted));
    expect_accepted(&rtr, c, tid);
    expect(&rtr, a, MsgType::Accepted);
}

#[test]
fn two_partitions_one_reject_rejects_both() {
    let (rtr, a, b, c) = two_partitions(ope::EXPLICIT_PREPARE);
    rtr.send_to_server(c, 0, &msg(50, b"to a")).unwrap();
    rtr.send_to_server(c, 0, &msg(150, b"to b")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    expect(&rtr, a, MsgType::Msg1);
    expect(&rtr, b, MsgType::Msg1);
    rtr.accept_tx(c, 0, 0).unwrap();
    expect(&rtr, a, MsgType::Prepare);
    expect(&rtr, b, MsgType::Prepare);
    rtr.accept_tx(a, 0, 0).unwrap();
    rtr.reject_tx(b, 0, 66).unwrap();
    expect_rejected(&rtr, a, tid, Status::Rejected, 66);
    expect_rejected(&rtr, b, tid, Status::Rejected, 66);
    expect_rejected(&rtr, c, tid, Status::Rejected, 66);
}

#[test]
fn two_partitions_early_reject_before_client_accepts() {
    let (rtr, a, b, c) = two_partitions(0);
    rtr.send_to_server(c, 0, &msg(50, b"to a")).unwrap();
    rtr.send_to_server(c, 0, &msg(150, b"to b")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    expect(&rtr, a, MsgType::Msg1);
    expect(&rtr, b, MsgType::Msg1);
    rtr.reject_tx(a, 0, 1).unwrap();
    expect_rejected(&rtr, c, tid, Status::Rejected, 1);
    expect_rejected(&rtr, a, tid, Status::Rejected, 1);
    expect_rejected(&rtr, b, tid, Status::Rejected, 1);
}

// ------------------------------------------------------------------ routing

#[test]
fn routing_bounds_are_inclusive_at_both_ends() {
    let rtr = Rtr::embedded().unwrap();
    let lo = open_server(&rtr, 0, 9, 0);
    let mid = open_server(&rtr, 10, 20, 0);
    let hi = open_server(&rtr, 21, u32::MAX, 0);
    let c = open_client(&rtr);
    for (key, want) in [(0, lo), (9, lo), (10, mid), (15, mid), (20, mid), (21, hi), (u32::MAX, hi)] {
        rtr.send_to_server(c, sen::ACCEPT, &msg(key, b"k")).unwrap();
        let tid = rtr.get_tid(c, 0).unwrap();
        let m = rtr.receive(&Which::List(vec![lo, mid, hi]), Some(WAIT)).unwrap();
        assert_eq!(m.sb.msgtype, MsgType::Msg1);
        assert_eq!(m.sb.channel, want, "key {key} went to the wrong server");
        expect_accepted(&rtr, want, tid);
        expect_accepted(&rtr, c, tid);
    }
}

#[test]
fn key_outside_every_range_is_nodstfnd() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_server(&rtr, 10, 20, 0);
    let c = open_client(&rtr);
    for key in [9, 21, 0, u32::MAX] {
        rtr.send_to_server(c, 0, &msg(key, b"k")).unwrap();
        let tid = rtr.get_tid(c, 0).unwrap();
        expect_rejected(&rtr, c, tid, Status::Nodstfnd, 0);
    }
    assert_quiet(&rtr, s);
    // The channel still works.
    round_trip(&rtr, c, &rtr, s, 10);
}

#[test]
fn unroutable_later_message_rejects_the_whole_transaction() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_server(&rtr, 10, 20, 0);
    let c = open_client(&rtr);
    rtr.send_to_server(c, 0, &msg(12, b"ok")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    expect(&rtr, s, MsgType::Msg1);
    rtr.send_to_server(c, 0, &msg(30, b"nowhere")).unwrap();
    expect_rejected(&rtr, c, tid, Status::Nodstfnd, 0);
    expect_rejected(&rtr, s, tid, Status::Nodstfnd, 0);
}

#[test]
fn message_shorter_than_key_is_keymsgshort() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_server(&rtr, 0, u32::MAX, 0);
    let c = open_client(&rtr);
    for short in [&b""[..], b"a", b"abc"] {
        rtr.send_to_server(c, 0, short).unwrap();
        let tid = rtr.get_tid(c, 0).unwrap();
        expect_rejected(&rtr, c, tid, Status::Keymsgshort, 0);
    }
    // With SEN_ACCEPT as well.
    rtr.send_to_server(c, sen::ACCEPT, b"ab").unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    expect_rejected(&rtr, c, tid, Status::Keymsgshort, 0);
    assert_quiet(&rtr, s);
    // Exactly the key's length is enough.
    rtr.send_to_server(c, sen::ACCEPT, &7u32.to_ne_bytes()).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    expect(&rtr, s, MsgType::Msg1);
    expect_accepted(&rtr, s, tid);
    expect_accepted(&rtr, c, tid);
}

#[test]
fn facility_without_servers_is_nodstfnd() {
    let rtr = Rtr::embedded().unwrap();
    let _other = open_server_in(&rtr, "OTHER", 0, 100, 0);
    let c = open_client_in(&rtr, "EMPTYFAC");
    rtr.send_to_server(c, sen::ACCEPT, &msg(1, b"x")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    expect_rejected(&rtr, c, tid, Status::Nodstfnd, 0);
}

#[test]
fn facility_names_compare_without_case_and_default_facility_works() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_server_in(&rtr, "MixedCase", 1, 10, 0);
    let c = open_client_in(&rtr, "mixedcase");
    round_trip(&rtr, c, &rtr, s, 5);

    let ds = open_ok(&rtr, OpenParams { facility: None, ..server_params("X", 1, 10, 0) });
    let dc = open_client_in(&rtr, rtr_core::DEFAULT_FACILITY);
    round_trip(&rtr, dc, &rtr, ds, 5);
}

#[test]
fn facilities_are_separate_key_spaces() {
    let rtr = Rtr::embedded().unwrap();
    // Same range in two facilities: no overlap conflict.
    let s1 = open_server_in(&rtr, "FAC1", 1, 10, 0);
    let s2 = open_server_in(&rtr, "FAC2", 1, 10, ope::NOCONCURRENT);
    let c1 = open_client_in(&rtr, "FAC1");
    let c2 = open_client_in(&rtr, "FAC2");
    round_trip(&rtr, c1, &rtr, s1, 3);
    round_trip(&rtr, c2, &rtr, s2, 3);
}

// ------------------------------------------------------ transaction timeout

#[test]
fn transaction_timeout_rejects_both_sides_with_timout() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_server(&rtr, 1, 100, ope::EXPLICIT_ACCEPT);
    let c = open_client(&rtr);
    let t0 = Instant::now();
    rtr.start_tx(c, 0, Some(300)).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    rtr.send_to_server(c, sen::ACCEPT, &msg(1, b"a")).unwrap();
    expect(&rtr, s, MsgType::Msg1);
    // The server never votes.
    expect_rejected(&rtr, c, tid, Status::Timout, 0);
    let waited = t0.elapsed();
    assert!(waited >= Duration::from_millis(290), "timed out too early: {waited:?}");
    assert!(waited < Duration::from_secs(3), "timed out too late: {waited:?}");
    expect_rejected(&rtr, s, tid, Status::Timout, 0);
    assert_eq!(err_status(rtr.accept_tx(s, 0, 0)), Status::Notacttx);
}

#[test]
fn transaction_timeout_without_client_accept() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_server(&rtr, 1, 100, 0);
    let c = open_client(&rtr);
    rtr.start_tx(c, 0, Some(200)).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    rtr.send_to_server(c, 0, &msg(1, b"a")).unwrap();
    expect(&rtr, s, MsgType::Msg1);
    expect_rejected(&rtr, s, tid, Status::Timout, 0);
    expect_rejected(&rtr, c, tid, Status::Timout, 0);
}

#[test]
fn transaction_timeout_without_any_message() {
    let rtr = Rtr::embedded().unwrap();
    let c = open_client(&rtr);
    rtr.start_tx(c, 0, Some(100)).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    expect_rejected(&rtr, c, tid, Status::Timout, 0);
}

#[test]
fn timeout_of_a_finished_transaction_never_fires() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_server(&rtr, 1, 100, 0);
    let c = open_client(&rtr);
    rtr.start_tx(c, 0, Some(200)).unwrap();
    let t1 = rtr.get_tid(c, 0).unwrap();
    rtr.send_to_server(c, sen::ACCEPT, &msg(1, b"a")).unwrap();
    expect(&rtr, s, MsgType::Msg1);
    expect_accepted(&rtr, s, t1);
    expect_accepted(&rtr, c, t1);
    // Next transaction on the same channel, past the first one's deadline.
    rtr.send_to_server(c, 0, &msg(1, b"b")).unwrap();
    let t2 = rtr.get_tid(c, 0).unwrap();
    expect(&rtr, s, MsgType::Msg1);
    std::thread::sleep(Duration::from_millis(400));
    rtr.accept_tx(c, 0, 0).unwrap();
    expect_accepted(&rtr, s, t2);
    expect_accepted(&rtr, c, t2);
    assert_quiet(&rtr, c);
}

#[test]
fn zero_timeout_means_no_timeout() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_server(&rtr, 1, 100, 0);
    let c = open_client(&rtr);
    rtr.start_tx(c, 0, Some(0)).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    rtr.send_to_server(c, 0, &msg(1, b"a")).unwrap();
    expect(&rtr, s, MsgType::Msg1);
    assert_quiet(&rtr, c);
    rtr.accept_tx(c, 0, 0).unwrap();
    expect_accepted(&rtr, s, tid);
    expect_accepted(&rtr, c, tid);
}

// ------------------------------------------------------------- user handles

#[test]
fn user_handles_come_back_with_every_message() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_server(&rtr, 1, 100, 0);
    let c = open_client(&rtr);
    assert_eq!(rtr.get_user_handle(c).unwrap(), 0);
    rtr.set_user_handle(c, 0xC1).unwrap();
    rtr.set_user_handle(s, usize::MAX).unwrap();
    assert_eq!(rtr.get_user_handle(c).unwrap(), 0xC1);
    assert_eq!(rtr.get_user_handle(s).unwrap(), usize::MAX);
    rtr.send_to_server(c, 0, &msg(1, b"a")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    assert_eq!(expect(&rtr, s, MsgType::Msg1).sb.usrhdl, usize::MAX);
    rtr.reply_to_client(s, 0, b"r").unwrap();
    assert_eq!(expect(&rtr, c, MsgType::Reply).sb.usrhdl, 0xC1);
    // Changed during the transaction: applies to the rest of it.
    rtr.set_user_handle(c, 0xC2).unwrap();
    rtr.accept_tx(c, 0, 0).unwrap();
    assert_eq!(expect_accepted(&rtr, s, tid).sb.usrhdl, usize::MAX);
    assert_eq!(expect_accepted(&rtr, c, tid).sb.usrhdl, 0xC2);
}

#[test]
fn user_handle_set_before_opened_is_on_opened() {
    let rtr = Rtr::embedded().unwrap();
    let c = rtr.open_channel(client_params(FAC)).unwrap();
    rtr.set_user_handle(c, 77).unwrap();
    let m = expect(&rtr, c, MsgType::Opened);
    assert_eq!(m.sb.usrhdl, 77);
    assert_eq!(m.sb.tid, Tid::default());
}

// --------------------------------------------------- receiving over channels

#[test]
fn receive_over_a_list_takes_the_oldest_message_first() {
    let rtr = Rtr::embedded().unwrap();
    let c1 = rtr.open_channel(client_params(FAC)).unwrap();
    let c2 = rtr.open_channel(client_params(FAC)).unwrap();
    let c3 = rtr.open_channel(client_params(FAC)).unwrap();
    // c3's Opened proves the node handled (and delivered) c1's and c2's.
    expect(&rtr, c3, MsgType::Opened);
    // Listed second, but c1's message is older.
    let m = rtr.receive(&Which::List(vec![c2, c1]), Some(WAIT)).unwrap();
    assert_eq!((m.sb.channel, m.sb.msgtype), (c1, MsgType::Opened));
    let m = rtr.receive(&Which::Any, Some(WAIT)).unwrap();
    assert_eq!((m.sb.channel, m.sb.msgtype), (c2, MsgType::Opened));
    // Empty now: a poll returns at once with a timeout.
    let t0 = Instant::now();
    assert_eq!(err_status(rtr.receive(&Which::Any, Some(Duration::ZERO))), Status::Timout);
    assert_eq!(rtr.receive(&Which::List(vec![c1, c2, c3]), Some(Duration::ZERO)).unwrap_err(), RtrError::Timeout);
    assert!(t0.elapsed() < Duration::from_millis(200));
}

#[test]
fn receive_any_sees_client_and_server_channels_in_arrival_order() {
    let rtr = Rtr::embedded().unwrap();
    let s1 = open_server(&rtr, 1, 10, ope::EXPLICIT_PREPARE);
    let s2 = open_server(&rtr, 11, 20, ope::EXPLICIT_PREPARE);
    let c = open_client(&rtr);
    rtr.send_to_server(c, 0, &msg(15, b"s2 first")).unwrap();
    rtr.send_to_server(c, 0, &msg(5, b"s1 second")).unwrap();
    rtr.send_to_server(c, 0, &msg(16, b"s2 third")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    // Make sure all three were delivered: the client channel's own reply comes after them.
    let got: Vec<(u32, MsgType, Vec<u8>)> = (0..3)
        .map(|_| {
            let m = recv_any(&rtr);
            (m.sb.channel, m.sb.msgtype, m.data)
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (s2, MsgType::Msg1, msg(15, b"s2 first")),
            (s1, MsgType::Msg1, msg(5, b"s1 second")),
            (s2, MsgType::Msgn, msg(16, b"s2 third")),
        ]
    );
    rtr.reply_to_client(s1, 0, b"r1").unwrap();
    let r = recv_any(&rtr);
    assert_eq!((r.sb.channel, r.sb.msgtype), (c, MsgType::Reply));
    rtr.accept_tx(c, 0, 0).unwrap();
    let mut prep: Vec<u32> = (0..2)
        .map(|_| {
            let m = recv_any(&rtr);
            assert_eq!(m.sb.msgtype, MsgType::Prepare);
            m.sb.channel
        })
        .collect();
    prep.sort();
    assert_eq!(prep, vec![s1, s2]);
    // Receiving on Any again is the implicit vote of both servers.
    let mut outcomes: Vec<u32> = (0..3)
        .map(|_| {
            let m = recv_any(&rtr);
            assert_eq!(m.sb.msgtype, MsgType::Accepted, "{m:?}");
            assert_eq!(m.sb.tid, tid);
            m.sb.channel
        })
        .collect();
    outcomes.sort();
    let mut want = vec![s1, s2, c];
    want.sort();
    assert_eq!(outcomes, want);
}

/// The library keeps an index of the channels with messages waiting
/// (instead of scanning every channel per receive): the oldest message
/// still comes first, for Any, for short lists and for lists long enough
/// that the receive looks each listed channel up instead, and a closed
/// channel's waiting message leaves the index with it.
#[test]
fn many_channels_with_messages_waiting_are_received_oldest_first() {
    let rtr = Rtr::embedded().unwrap();
    let chans: Vec<u32> = (0..40).map(|_| rtr.open_channel(client_params(FAC)).unwrap()).collect();
    let last = rtr.open_channel(client_params(FAC)).unwrap();
    // The last channel's Opened proves the node delivered the others'.
    expect(&rtr, last, MsgType::Opened);
    let opened = |which: Which| {
        let m = rtr.receive(&which, Some(WAIT)).unwrap();
        assert_eq!(m.sb.msgtype, MsgType::Opened);
        m.sb.channel
    };
    // 40 waiting channels against a list of 40: looked up channel by channel.
    assert_eq!(opened(Which::List(chans.iter().rev().copied().collect())), chans[0]);
    // A short list: found in the index.
    assert_eq!(opened(Which::List(vec![chans[5], chans[3]])), chans[3]);
    rtr.close_channel(chans[1], 0).unwrap();
    let rest: Vec<u32> = (0..37).map(|_| opened(Which::Any)).collect();
    let want: Vec<u32> = chans.iter().copied().filter(|c| ![chans[0], chans[1], chans[3]].contains(c)).collect();
    assert_eq!(rest, want);
    assert_eq!(rtr.receive(&Which::Any, Some(Duration::ZERO)).unwrap_err(), RtrError::Timeout);
}

#[test]
fn receive_list_ignores_other_channels() {
    let rtr = Rtr::embedded().unwrap();
    let a = rtr.open_channel(client_params(FAC)).unwrap();
    let b = open_client(&rtr);
    // a's Opened is queued but not listened for.
    assert_eq!(rtr.receive(&Which::List(vec![b]), Some(Duration::from_millis(50))).unwrap_err(), RtrError::Timeout);
    expect(&rtr, a, MsgType::Opened);
}

#[test]
fn receive_into_copies_and_reports_length() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_server(&rtr, 1, 100, 0);
    let c = open_client(&rtr);
    let data = msg(9, b"0123456789");
    rtr.send_to_server(c, 0, &data).unwrap();
    let mut buf = [0xAAu8; 64];
    let sb = rtr.receive_into(&Which::List(vec![s]), &mut buf, Some(WAIT)).unwrap();
    assert_eq!(sb.msgtype, MsgType::Msg1);
    assert_eq!(sb.msglen, data.len());
    assert!(!sb.truncated);
    assert_eq!(&buf[..data.len()], &data[..]);
    assert!(buf[data.len()..].iter().all(|b| *b == 0xAA));
    // Exactly the message's size is not truncation.
    rtr.reply_to_client(s, 0, b"12345").unwrap();
    let mut five = [0u8; 5];
    let sb = rtr.receive_into(&Which::List(vec![c]), &mut five, Some(WAIT)).unwrap();
    assert!(!sb.truncated);
    assert_eq!(&five, b"12345");
    rtr.reject_tx(c, 0, 0).unwrap();
}

// ------------------------------------------------- other key types and layouts

#[test]
fn multi_segment_ranges_route_on_every_segment() {
    use rtr_core::keyseg::{KeySegment, KeyType};
    let rtr = Rtr::embedded().unwrap();
    // Same numeric range, disjoint string ranges: two partitions, no overlap.
    let range =
        |lo: &[u8], hi: &[u8]| vec![seg(1, 10), KeySegment::new(1, KeyType::String, 3, 4, Some(lo), Some(hi)).unwrap()];
    let open = |segments| open_ok(&rtr, OpenParams { segments, ..server_params("MULTI", 0, 0, 0) });
    let am = open(range(b"a", b"m"));
    let nz = open(range(b"n", b"zzz"));
    let c = open_client_in(&rtr, "MULTI");
    for (key, s, want) in [
        (1, &b"abc"[..], Some(am)),
        (10, b"mzz", None), // "mzz" > "m\0\0": outside both
        (10, b"m\0\0", Some(am)),
        (5, b"n\0\0", Some(nz)),
        (5, b"zzz", Some(nz)),
        (11, b"abc", None),
        (0, b"nop", None),
    ] {
        rtr.send_to_server(c, sen::ACCEPT, &msg(key, s)).unwrap();
        let tid = rtr.get_tid(c, 0).unwrap();
        match want {
            Some(ch) => {
                let m = rtr.receive(&Which::List(vec![am, nz]), Some(WAIT)).unwrap();
                assert_eq!((m.sb.channel, m.sb.msgtype), (ch, MsgType::Msg1), "key {key} {s:?}");
                expect_accepted(&rtr, ch, tid);
                expect_accepted(&rtr, c, tid);
            }
            None => {
                expect_rejected(&rtr, c, tid, Status::Nodstfnd, 0);
            }
        }
    }
    // Long enough for the numeric key but not for the string one.
    rtr.send_to_server(c, sen::ACCEPT, &msg(5, b"ab")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    expect_rejected(&rtr, c, tid, Status::Keymsgshort, 0);
}

#[test]
fn signed_keys_route_by_value() {
    use rtr_core::keyseg::{KeySegment, KeyType};
    let rtr = Rtr::embedded().unwrap();
    let signed = |lo: i32, hi: i32| {
        vec![KeySegment::new(0, KeyType::Signed, 4, 0, Some(&lo.to_ne_bytes()), Some(&hi.to_ne_bytes())).unwrap()]
    };
    let neg = open_ok(&rtr, OpenParams { segments: signed(-10, -1), ..server_params("SIGNED", 0, 0, 0) });
    let pos = open_ok(&rtr, OpenParams { segments: signed(0, 10), ..server_params("SIGNED", 0, 0, 0) });
    let c = open_client_in(&rtr, "SIGNED");
    for (key, want) in [(-10i32, Some(neg)), (-1, Some(neg)), (0, Some(pos)), (10, Some(pos)), (-11, None), (11, None)]
    {
        let mut m = key.to_ne_bytes().to_vec();
        m.extend_from_slice(b"body");
        rtr.send_to_server(c, sen::ACCEPT, &m).unwrap();
        let tid = rtr.get_tid(c, 0).unwrap();
        match want {
            Some(ch) => {
                let got = rtr.receive(&Which::List(vec![neg, pos]), Some(WAIT)).unwrap();
                assert_eq!(got.sb.channel, ch, "key {key}");
                expect_accepted(&rtr, ch, tid);
                expect_accepted(&rtr, c, tid);
            }
            None => {
                expect_rejected(&rtr, c, tid, Status::Nodstfnd, 0);
            }
        }
    }
}
