//! Send, reply and accept flags beyond the basics.

mod common;

use common::*;
use rtr_core::flags::{acc, ope, rep, sen};
use rtr_core::{MsgType, Rtr, Status};

#[test]
fn return_to_sender_gives_an_undeliverable_message_back_and_the_transaction_goes_on() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_ok(&rtr, server_params("RTS", 0, 100, 0));
    let c = open_ok(&rtr, client_params("RTS"));
    rtr.send_to_server(c, 0, &msg(5, b"ok")).unwrap();
    expect(&rtr, s, MsgType::Msg1);
    // No server for key 500: back to the client, not a rejection.
    rtr.send_to_server(c, sen::RETURN_TO_SENDER, &msg(500, b"nobody")).unwrap();
    let m = expect(&rtr, c, MsgType::Rettosend);
    assert_eq!(m.data, msg(500, b"nobody"));
    rtr.accept_tx(c, 0, 0).unwrap();
    expect(&rtr, s, MsgType::Accepted);
    expect(&rtr, c, MsgType::Accepted);
    // Without the flag the same message rejects the transaction.
    rtr.send_to_server(c, 0, &msg(500, b"nobody")).unwrap();
    assert_eq!(status_of(&expect(&rtr, c, MsgType::Rejected)).0, Status::Nodstfnd);
}

#[test]
fn an_expendable_transaction_is_rejected_when_its_server_is_lost() {
    let rtr = Rtr::embedded().unwrap();
    let dying = rtr.connect_again().unwrap();
    let s1 = open_ok(&dying, server_params("EXP", 0, 100, 0));
    let s2 = open_ok(&rtr, server_params("EXP", 0, 100, 0));
    let c = open_ok(&rtr, client_params("EXP"));
    rtr.send_to_server(c, sen::EXPENDABLE, &msg(1, b"a")).unwrap();
    expect(&dying, s1, MsgType::Msg1);
    drop(dying);
    assert_eq!(status_of(&expect(&rtr, c, MsgType::Rejected)).0, Status::Srvdied);
    assert_quiet(&rtr, s2);
    // A normal transaction would have gone to the other server.
    let dying = rtr.connect_again().unwrap();
    let s3 = open_ok(&dying, server_params("EXP", 0, 100, 0));
    rtr.send_to_server(c, 0, &msg(1, b"b")).unwrap();
    // Either free server may take it; make sure the one that dies has it.
    let m = rtr.receive(&rtr_core::Which::List(vec![s2]), Some(std::time::Duration::from_millis(200)));
    if m.is_err() {
        expect(&dying, s3, MsgType::Msg1);
        drop(dying);
        expect(&rtr, s2, MsgType::Msg1);
    }
    rtr.accept_tx(c, 0, 0).unwrap();
    expect(&rtr, s2, MsgType::Accepted);
    expect(&rtr, c, MsgType::Accepted);
}

#[test]
fn readonly_messages_are_delivered_and_committed_like_others() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_ok(&rtr, server_params("RO", 0, 100, 0));
    let c = open_ok(&rtr, client_params("RO"));
    rtr.send_to_server(c, sen::READONLY | sen::ACCEPT, &msg(1, b"look")).unwrap();
    let m = expect(&rtr, s, MsgType::Msg1);
    assert_eq!(m.data, msg(1, b"look"));
    expect(&rtr, s, MsgType::Accepted);
    expect(&rtr, c, MsgType::Accepted);
}

#[test]
fn independent_replies_and_accepts() {
    let rtr = Rtr::embedded().unwrap();
    // Implicit accept: RTR_F_REP_INDEPENDENT implies the accept.
    let s = open_ok(&rtr, server_params("IND", 0, 100, ope::EXPLICIT_PREPARE));
    let c = open_ok(&rtr, client_params("IND"));
    rtr.send_to_server(c, 0, &msg(1, b"a")).unwrap();
    expect(&rtr, s, MsgType::Msg1);
    rtr.reply_to_client(s, rep::INDEPENDENT, b"r").unwrap();
    expect(&rtr, c, MsgType::Reply);
    rtr.accept_tx(c, acc::INDEPENDENT, 0).unwrap();
    // The server voted with its reply: no prepare, straight to the outcome.
    expect(&rtr, s, MsgType::Accepted);
    expect(&rtr, c, MsgType::Accepted);
    // Explicit accept: only together with RTR_F_REP_ACCEPT.
    let e = open_ok(&rtr, server_params("IND2", 0, 100, ope::EXPLICIT_ACCEPT));
    let c2 = open_ok(&rtr, client_params("IND2"));
    rtr.send_to_server(c2, 0, &msg(1, b"a")).unwrap();
    expect(&rtr, e, MsgType::Msg1);
    assert_eq!(rtr.reply_to_client(e, rep::INDEPENDENT, b"r").unwrap_err().status(), Status::Invflags);
    rtr.reply_to_client(e, rep::INDEPENDENT | rep::ACCEPT, b"r").unwrap();
    rtr.accept_tx(c2, 0, 0).unwrap();
    expect(&rtr, e, MsgType::Accepted);
}

#[test]
fn a_server_rejecting_with_retry_has_the_transaction_presented_again() {
    use rtr_core::flags::rej;
    let rtr = Rtr::embedded().unwrap();
    let s = open_ok(&rtr, server_params("RETRY", 0, 100, 0));
    let c = open_ok(&rtr, client_params("RETRY"));
    rtr.send_to_server(c, 0, &msg(1, b"a")).unwrap();
    let first = expect(&rtr, s, MsgType::Msg1);
    rtr.reject_tx(s, rej::RETRY, 0).unwrap();
    // The server's branch is rescheduled, then presented again (here to the
    // same, only server); the client notices nothing.
    assert_eq!(status_of(&expect(&rtr, s, MsgType::Rejected)).0, Status::Dlktxres);
    let again = expect(&rtr, s, MsgType::Msg1);
    assert_eq!((again.sb.tid, &again.data), (first.sb.tid, &first.data));
    assert_quiet(&rtr, c);
    rtr.accept_tx(c, 0, 0).unwrap();
    expect(&rtr, s, MsgType::Accepted);
    expect(&rtr, c, MsgType::Accepted);
    // Retries count against the retry limit (3): the third is the last.
    rtr.send_to_server(c, 0, &msg(1, b"b")).unwrap();
    for _ in 0..2 {
        expect(&rtr, s, MsgType::Msg1);
        rtr.reject_tx(s, rej::RETRY, 0).unwrap();
        expect(&rtr, s, MsgType::Rejected);
    }
    expect(&rtr, s, MsgType::Msg1);
    rtr.reject_tx(s, rej::RETRY, 0).unwrap();
    expect(&rtr, s, MsgType::Rejected);
    assert_eq!(status_of(&expect(&rtr, c, MsgType::Rejected)).0, Status::Retrylimit);
}

#[test]
fn a_client_accepting_with_forget_hears_no_outcome_and_can_go_on() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_ok(&rtr, server_params("FORGET", 0, 100, 0));
    let c = open_ok(&rtr, client_params("FORGET"));
    rtr.send_to_server(c, 0, &msg(1, b"a")).unwrap();
    rtr.accept_tx(c, acc::FORGET, 0).unwrap();
    // The client may start its next transaction at once.
    rtr.send_to_server(c, sen::ACCEPT, &msg(1, b"b")).unwrap();
    expect(&rtr, s, MsgType::Msg1);
    expect(&rtr, s, MsgType::Accepted);
    expect(&rtr, s, MsgType::Msg1);
    expect(&rtr, s, MsgType::Accepted);
    // Only the second transaction's outcome reaches the client.
    expect(&rtr, c, MsgType::Accepted);
    assert_quiet(&rtr, c);
}

#[test]
fn a_server_accepting_with_forget_is_free_at_once_and_hears_no_outcome() {
    let rtr = Rtr::embedded().unwrap();
    // One server: it can only take the second transaction if the forget
    // released it before the first one ended.
    let s = open_ok(&rtr, server_params("SFORGET", 0, 100, ope::EXPLICIT_ACCEPT));
    let c1 = open_ok(&rtr, client_params("SFORGET"));
    let c2 = open_ok(&rtr, client_params("SFORGET"));
    rtr.send_to_server(c1, 0, &msg(1, b"a")).unwrap();
    let t1 = expect(&rtr, s, MsgType::Msg1).sb.tid;
    rtr.accept_tx(s, acc::FORGET, 0).unwrap();
    // The vote is cast: a second accept is refused as on any channel with
    // no transaction.
    assert!(rtr.accept_tx(s, 0, 0).is_err());
    rtr.send_to_server(c2, 0, &msg(2, b"b")).unwrap();
    let m2 = expect(&rtr, s, MsgType::Msg1);
    assert_ne!(m2.sb.tid, t1);
    // The first transaction commits for its client; its server hears nothing.
    rtr.accept_tx(c1, 0, 0).unwrap();
    expect_accepted(&rtr, c1, t1);
    rtr.accept_tx(c2, 0, 0).unwrap();
    rtr.accept_tx(s, 0, 0).unwrap();
    expect_accepted(&rtr, s, m2.sb.tid);
    expect_accepted(&rtr, c2, m2.sb.tid);
    assert_quiet(&rtr, s);
}

#[test]
fn a_forgetting_server_is_not_told_of_a_rejection_either() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_ok(&rtr, server_params("SFORGETR", 0, 100, ope::EXPLICIT_ACCEPT));
    let c = open_ok(&rtr, client_params("SFORGETR"));
    rtr.send_to_server(c, 0, &msg(1, b"a")).unwrap();
    expect(&rtr, s, MsgType::Msg1);
    // RTR_F_REP_FORGET with the accept it belongs to.
    rtr.reply_to_client(s, rep::ACCEPT | rep::FORGET, b"r").unwrap();
    expect(&rtr, c, MsgType::Reply);
    rtr.reject_tx(c, 0, 7).unwrap();
    assert_eq!(status_of(&expect(&rtr, c, MsgType::Rejected)).1, 7);
    assert_quiet(&rtr, s);
    // The server takes the next transaction normally.
    rtr.send_to_server(c, sen::ACCEPT, &msg(1, b"b")).unwrap();
    expect(&rtr, s, MsgType::Msg1);
    rtr.accept_tx(s, 0, 0).unwrap();
    expect(&rtr, s, MsgType::Accepted);
    expect(&rtr, c, MsgType::Accepted);
}

#[test]
fn reply_forget_needs_the_accept_on_an_explicit_accept_server() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_ok(&rtr, server_params("RFORGET", 0, 100, ope::EXPLICIT_ACCEPT));
    let c = open_ok(&rtr, client_params("RFORGET"));
    rtr.send_to_server(c, 0, &msg(1, b"a")).unwrap();
    expect(&rtr, s, MsgType::Msg1);
    let e = rtr.reply_to_client(s, rep::FORGET, b"r").unwrap_err();
    assert_eq!(e.status(), Status::Invflags);
    // Nothing was sent or voted.
    assert_quiet(&rtr, c);
    rtr.accept_tx(c, 0, 0).unwrap();
    rtr.accept_tx(s, 0, 0).unwrap();
    expect(&rtr, s, MsgType::Accepted);
    expect(&rtr, c, MsgType::Accepted);
}

#[test]
fn call_out_servers_see_every_message_and_vote() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_ok(&rtr, server_params("COUT", 0, 1000, ope::EXPLICIT_ACCEPT));
    let callout = |fl| rtr_core::OpenParams {
        flags: ope::SERVER | ope::EXPLICIT_ACCEPT | fl,
        facility: Some("COUT".into()),
        ..Default::default()
    };
    let tr = open_ok(&rtr, callout(ope::TR_CALL_OUT));
    let be = open_ok(&rtr, callout(ope::BE_CALL_OUT));
    let c = open_ok(&rtr, client_params("COUT"));
    // Accepted when every call-out accepts.
    rtr.send_to_server(c, sen::ACCEPT, &msg(7, b"pay")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    for ch in [tr, be] {
        let m = expect(&rtr, ch, MsgType::Msg1);
        assert_eq!(&m.data[4..], b"pay");
        rtr.accept_tx(ch, 0, 0).unwrap();
    }
    expect(&rtr, s, MsgType::Msg1);
    rtr.accept_tx(s, 0, 0).unwrap();
    expect_accepted(&rtr, c, tid);
    expect_accepted(&rtr, tr, tid);
    expect_accepted(&rtr, be, tid);
    // Rejected when one rejects, with its reason.
    rtr.send_to_server(c, sen::ACCEPT, &msg(8, b"refused")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    expect(&rtr, tr, MsgType::Msg1);
    rtr.reject_tx(tr, 0, 5).unwrap();
    expect_rejected(&rtr, c, tid, Status::Rejected, 5);
}
