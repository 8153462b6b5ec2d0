//! rtr_prepare_tx: phase one asked for by the client.

mod common;

use common::*;
use rtr_core::flags::ope;
use rtr_core::{MsgType, Rtr, RtrError, Status};

#[test]
fn prepare_then_accept_commits_with_the_prepare_reason() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_ok(&rtr, server_params("PREP", 0, 100, ope::EXPLICIT_PREPARE));
    let c = open_ok(&rtr, client_params("PREP"));
    rtr.send_to_server(c, 0, &msg(1, b"a")).unwrap();
    expect(&rtr, s, MsgType::Msg1);
    rtr.prepare_tx(c, 0, 77, b"blob").unwrap();
    // No more messages, no second prepare.
    assert_eq!(rtr.send_to_server(c, 0, &msg(1, b"b")).unwrap_err().status(), Status::Txalracc);
    assert_eq!(rtr.prepare_tx(c, 0, 1, b"").unwrap_err().status(), Status::Txalracc);
    expect(&rtr, s, MsgType::Prepare);
    rtr.accept_tx(s, 0, 0).unwrap();
    let m = expect(&rtr, c, MsgType::Prepared);
    assert_eq!(status_of(&m), (Status::Ok, 77));
    // The client's later reason is ignored: the prepare's stands.
    rtr.accept_tx(c, 0, 5).unwrap();
    let m = expect(&rtr, c, MsgType::Accepted);
    assert_eq!(status_of(&m), (Status::Ok, 77));
    expect(&rtr, s, MsgType::Accepted);
}

#[test]
fn a_server_reject_during_prepare_rejects_and_a_client_reject_after_it_uses_the_prepare_reason() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_ok(&rtr, server_params("PREP2", 0, 100, ope::EXPLICIT_PREPARE));
    let c = open_ok(&rtr, client_params("PREP2"));
    rtr.send_to_server(c, 0, &msg(1, b"a")).unwrap();
    expect(&rtr, s, MsgType::Msg1);
    rtr.prepare_tx(c, 0, 9, b"").unwrap();
    expect(&rtr, s, MsgType::Prepare);
    rtr.reject_tx(s, 0, 4).unwrap();
    assert_eq!(status_of(&expect(&rtr, c, MsgType::Rejected)), (Status::Rejected, 4));
    expect(&rtr, s, MsgType::Rejected);

    rtr.send_to_server(c, 0, &msg(1, b"b")).unwrap();
    expect(&rtr, s, MsgType::Msg1);
    rtr.prepare_tx(c, 0, 9, b"").unwrap();
    expect(&rtr, s, MsgType::Prepare);
    rtr.accept_tx(s, 0, 0).unwrap();
    expect(&rtr, c, MsgType::Prepared);
    rtr.reject_tx(c, 0, 1).unwrap();
    assert_eq!(status_of(&expect(&rtr, c, MsgType::Rejected)), (Status::Rejected, 9));
    expect(&rtr, s, MsgType::Rejected);
}

#[test]
fn prepare_bad_input() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_ok(&rtr, server_params("PREP3", 0, 100, 0));
    let c = open_ok(&rtr, client_params("PREP3"));
    assert!(matches!(rtr.prepare_tx(c, 0, 0, b""), Err(RtrError::NoTransaction(_))));
    assert_eq!(rtr.prepare_tx(s, 0, 0, b"").unwrap_err().status(), Status::Invop4srv);
    assert_eq!(rtr.prepare_tx(c, 1, 0, b"").unwrap_err().status(), Status::Invflags);
    assert_eq!(rtr.prepare_tx(c, 0, 0, &[0; 1025]).unwrap_err().status(), Status::Invmsglen);
}
