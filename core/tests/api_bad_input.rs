//! Bad input: every `RtrError` the channel API can return, and the status
//! each maps to. Wrong calls must fail cleanly and leave the channel usable.

mod common;

use std::time::Duration;

use common::*;
use rtr_core::flags::{self, acc, clo, ope, rej, rep, sen};
use rtr_core::keyseg::{KeySegment, KeyType};
use rtr_core::{MsgType, OpenParams, Rtr, RtrError, Status, Which};

fn open_err(rtr: &Rtr, p: OpenParams) -> RtrError {
    rtr.open_channel(p).expect_err("open_channel must fail")
}

// ------------------------------------------------------------ open flags

#[test]
fn open_needs_exactly_one_of_client_and_server() {
    let rtr = Rtr::embedded().unwrap();
    for fl in [0, ope::CLIENT | ope::SERVER, ope::EXPLICIT_ACCEPT, ope::NOSTANDBY] {
        let e = open_err(&rtr, OpenParams { flags: fl, facility: Some(FAC.into()), ..Default::default() });
        assert!(matches!(e, RtrError::InvalidFlags { .. }), "{fl:#x}: {e:?}");
        assert_eq!(e.status(), Status::Invflags);
    }
}

#[test]
fn open_rejects_unknown_flag_bits() {
    let rtr = Rtr::embedded().unwrap();
    for bit in [1u32 << 11, 1 << 20, 1 << 31] {
        let e = open_err(&rtr, server_params(FAC, 1, 2, bit));
        assert!(matches!(e, RtrError::InvalidFlags { .. }), "{e:?}");
        assert_eq!(e.status(), Status::Invflags);
        let e = open_err(&rtr, OpenParams { flags: ope::CLIENT | bit, ..client_params(FAC) });
        assert_eq!(e.status(), Status::Invflags);
    }
}

#[test]
fn open_rejects_server_flags_on_a_client() {
    let rtr = Rtr::embedded().unwrap();
    for fl in [ope::NOSTANDBY, ope::NOCONCURRENT, ope::EXPLICIT_ACCEPT, ope::EXPLICIT_PREPARE, ope::SHADOW] {
        let e = open_err(&rtr, OpenParams { flags: ope::CLIENT | fl, ..client_params(FAC) });
        assert_eq!(e.status(), Status::Invflags, "{fl:#x}: {e:?}");
    }
}

#[test]
fn open_unsupported_flags_say_so() {
    let rtr = Rtr::embedded().unwrap();
    let e = open_err(&rtr, server_params(FAC, 1, 2, ope::XA_MANAGED));
    assert!(matches!(e, RtrError::Unsupported { .. }), "{e:?}");
    assert_eq!(e.status(), Status::Unsupported);
    // A shadow server needs a partner at another site: a node alone (no
    // facility defined across nodes) closes it with RTR_STS_UNSUPPORTED.
    let (_, st) = open_refused(&rtr, server_params(FAC, 1, 2, ope::SHADOW));
    assert_eq!(st, Status::Unsupported);
    // Call-out servers are supported; both kinds at once, or on a client, are not.
    let both = ope::TR_CALL_OUT | ope::BE_CALL_OUT;
    assert_eq!(open_err(&rtr, server_params(FAC, 1, 2, both)).status(), Status::Invflags);
    for fl in [ope::TR_CALL_OUT, ope::BE_CALL_OUT] {
        let e = open_err(&rtr, OpenParams { flags: ope::CLIENT | fl, ..client_params(FAC) });
        assert_eq!(e.status(), Status::Invflags, "{fl:#x}: {e:?}");
    }
    let e = open_err(&rtr, OpenParams { flags: ope::CLIENT | ope::FOREIGN_TM, ..client_params(FAC) });
    assert_eq!(e.status(), Status::Unsupported);
    // Nothing was opened by the failed calls.
    assert_eq!(err_status(rtr.receive(&Which::Any, Some(Duration::ZERO))), Status::Invrcvchan);
}

#[test]
fn supported_server_flags_open() {
    let rtr = Rtr::embedded().unwrap();
    open_server(&rtr, 1, 1, ope::NOSTANDBY);
    open_server(&rtr, 2, 2, ope::NOCONCURRENT);
    open_server(&rtr, 3, 3, ope::EXPLICIT_ACCEPT | ope::EXPLICIT_PREPARE);
}

// --------------------------------------------------- names and strings

#[test]
fn facility_name_rules() {
    let rtr = Rtr::embedded().unwrap();
    let bad = [
        String::new(),
        "A".repeat(32),
        "1ABC".into(),
        "_ABC".into(),
        "A B".into(),
        "A*".into(),
        "FAC/X".into(),
        "FAÇADE".into(),
    ];
    for name in bad {
        let e = open_err(&rtr, client_params(&name));
        assert!(matches!(e, RtrError::InvalidFacility(_)), "{name:?}: {e:?}");
        assert_eq!(e.status(), Status::Invfacnam, "{name:?}");
    }
    for good in ["A".repeat(31), "RTR$DEFAULT_FACILITY".into(), "a-b.c_d$9".into()] {
        open_client_in(&rtr, &good);
    }
}

#[test]
fn recipient_name_rules() {
    let rtr = Rtr::embedded().unwrap();
    for bad in ["R".repeat(33), "a*".into(), "a?".into(), "a%".into()] {
        let e = open_err(&rtr, OpenParams { recipient: Some(bad.clone()), ..client_params(FAC) });
        assert!(matches!(e, RtrError::InvalidRecipient(_)), "{bad:?}: {e:?}");
        assert_eq!(e.status(), Status::Invrcpnam);
    }
    // 31 characters, and 32 as RTR V2 tolerated.
    for good in ["R".repeat(31), "R".repeat(32)] {
        open_ok(&rtr, OpenParams { recipient: Some(good), ..client_params(FAC) });
    }
}

#[test]
fn access_string_too_long() {
    let rtr = Rtr::embedded().unwrap();
    let e = open_err(&rtr, OpenParams { access: Some("x".repeat(rtr_core::MAX_ACCESS_LEN + 1)), ..client_params(FAC) });
    assert!(matches!(e, RtrError::InvalidAccess(_)), "{e:?}");
    assert_eq!(e.status(), Status::Invaccess);
    open_ok(&rtr, OpenParams { access: Some("x".repeat(rtr_core::MAX_ACCESS_LEN)), ..client_params(FAC) });
}

// ----------------------------------------------------------- key segments

#[test]
fn client_takes_no_key_segments() {
    let rtr = Rtr::embedded().unwrap();
    let e = open_err(&rtr, OpenParams { segments: vec![seg(1, 2)], ..client_params(FAC) });
    assert_eq!(e, RtrError::KeysOnClient);
    assert_eq!(e.status(), Status::Invnumseg);
}

#[test]
fn more_than_twenty_segments() {
    let rtr = Rtr::embedded().unwrap();
    let segs: Vec<KeySegment> =
        (0..21).map(|i| KeySegment::new(i, KeyType::Unsigned, 1, i as u32, None, None).unwrap()).collect();
    let e = open_err(&rtr, OpenParams { segments: segs[..21].to_vec(), ..server_params(FAC, 0, 0, 0) });
    assert!(matches!(e, RtrError::Key(_)), "{e:?}");
    assert_eq!(e.status(), Status::Invnumseg);
    // Twenty is fine.
    open_ok(&rtr, OpenParams { segments: segs[..20].to_vec(), ..server_params(FAC, 0, 0, 0) });
}

#[test]
fn overlapping_key_range_is_refused_with_keyoverlap() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_server(&rtr, 10, 20, 0);
    for (lo, hi) in [(20, 30), (0, 10), (15, 15), (0, 100), (11, 19)] {
        let (_, st) = open_refused(&rtr, server_params(FAC, lo, hi, 0));
        assert_eq!(st, Status::Keyoverlap, "{lo}..={hi}");
    }
    // Adjacent ranges do not overlap; the same range is a concurrent server.
    open_server(&rtr, 21, 30, 0);
    open_server(&rtr, 0, 9, 0);
    open_server(&rtr, 10, 20, 0);
    // The first server still works.
    let c = open_client(&rtr);
    rtr.send_to_server(c, sen::ACCEPT, &msg(10, b"x")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    let m = rtr.receive(&Which::Any, Some(WAIT)).unwrap();
    assert_eq!(m.sb.msgtype, MsgType::Msg1);
    assert_eq!(m.sb.channel, s, "the first free server of the partition gets it");
    expect_accepted(&rtr, s, tid);
    expect_accepted(&rtr, c, tid);
}

#[test]
fn channel_refused_by_rtr_is_gone() {
    let rtr = Rtr::embedded().unwrap();
    open_server(&rtr, 10, 20, 0);
    let (ch, st) = open_refused(&rtr, server_params(FAC, 15, 25, 0));
    assert_eq!(st, Status::Keyoverlap);
    // Receiving on it fails; no more messages for it.
    assert_eq!(err_status(rtr.receive(&Which::List(vec![ch]), Some(Duration::ZERO))), Status::Invrcvchan);
}

#[test]
fn channel_closed_by_rtr_answers_chanclosed_and_can_be_closed() {
    let rtr = Rtr::embedded().unwrap();
    open_server(&rtr, 10, 20, 0);
    let (ch, st) = open_refused(&rtr, server_params(FAC, 15, 25, 0));
    assert_eq!(st, Status::Keyoverlap);
    // RtrError::ChannelClosed says: "closed by RTR; close it with rtr_close_channel".
    assert_eq!(err_status(rtr.get_tid(ch, 0)), Status::Chanclosed);
    assert_eq!(err_status(rtr.accept_tx(ch, 0, 0)), Status::Chanclosed);
    rtr.close_channel(ch, 0).expect("closing a channel RTR closed is allowed");
    assert_eq!(err_status(rtr.close_channel(ch, 0)), Status::Invchannel);
}

#[test]
fn different_key_layout_is_refused_with_keylayout() {
    let rtr = Rtr::embedded().unwrap();
    open_server(&rtr, 10, 20, 0);
    let layouts = [
        // Different offset.
        vec![KeySegment::new(0, KeyType::Unsigned, 4, 4, None, None).unwrap()],
        // Different length.
        vec![KeySegment::new(0, KeyType::Unsigned, 8, 0, None, None).unwrap()],
        // Different type.
        vec![KeySegment::new(0, KeyType::Signed, 4, 0, Some(&100i32.to_ne_bytes()), None).unwrap()],
        vec![KeySegment::new(0, KeyType::String, 4, 0, Some(b"zz"), None).unwrap()],
        // A second segment.
        vec![seg(100, 200), KeySegment::new(1, KeyType::Unsigned, 1, 4, None, None).unwrap()],
        // No segment at all.
        vec![],
    ];
    for segments in layouts {
        let (_, st) = open_refused(&rtr, OpenParams { segments: segments.clone(), ..server_params(FAC, 0, 0, 0) });
        assert_eq!(st, Status::Keylayout, "{segments:?}");
    }
}

#[test]
fn layout_is_free_again_once_the_facility_has_no_partition() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_server(&rtr, 10, 20, 0);
    rtr.close_channel(s, 0).unwrap();
    open_ok(
        &rtr,
        OpenParams {
            segments: vec![KeySegment::new(0, KeyType::Unsigned, 8, 0, None, None).unwrap()],
            ..server_params(FAC, 0, 0, 0)
        },
    );
}

#[test]
fn noconcurrent_conflicts() {
    let rtr = Rtr::embedded().unwrap();
    // A NOCONCURRENT server refuses company...
    open_server(&rtr, 1, 10, ope::NOCONCURRENT);
    for extra in [0, ope::NOCONCURRENT] {
        let (_, st) = open_refused(&rtr, server_params(FAC, 1, 10, extra));
        assert_eq!(st, Status::Noconcurrent);
    }
    // ...and a NOCONCURRENT server cannot join a partition that has servers.
    open_server(&rtr, 11, 20, 0);
    let (_, st) = open_refused(&rtr, server_params(FAC, 11, 20, ope::NOCONCURRENT));
    assert_eq!(st, Status::Noconcurrent);
    // Plain concurrent servers are fine.
    open_server(&rtr, 11, 20, 0);
}

#[test]
fn noconcurrent_partition_accepts_a_server_again_after_its_server_left() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_server(&rtr, 1, 10, ope::NOCONCURRENT);
    rtr.close_channel(s, 0).unwrap();
    let s2 = open_server(&rtr, 1, 10, ope::NOCONCURRENT);
    let c = open_client(&rtr);
    round_trip(&rtr, c, &rtr, s2, 5);
}

// ----------------------------------------------------------- message length

#[test]
fn message_longer_than_64000_is_invmsglen() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_server(&rtr, 0, u32::MAX, 0);
    let c = open_client(&rtr);
    let too_big = vec![0u8; rtr_core::MAX_MSGLEN + 1];
    let e = rtr.send_to_server(c, 0, &too_big).unwrap_err();
    assert_eq!(e, RtrError::InvalidMsgLen { len: 64_001 });
    assert_eq!(e.status(), Status::Invmsglen);
    // The failed send started nothing.
    assert_eq!(err_status(rtr.get_tid(c, 0)), Status::Notacttx);
    rtr.send_to_server(c, 0, &vec![0u8; rtr_core::MAX_MSGLEN]).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    expect(&rtr, s, MsgType::Msg1);
    assert_eq!(err_status(rtr.reply_to_client(s, 0, &too_big)), Status::Invmsglen);
    rtr.reply_to_client(s, 0, &vec![1u8; rtr_core::MAX_MSGLEN]).unwrap();
    assert_eq!(expect(&rtr, c, MsgType::Reply).data.len(), rtr_core::MAX_MSGLEN);
    rtr.accept_tx(c, 0, 0).unwrap();
    expect_accepted(&rtr, s, tid);
    expect_accepted(&rtr, c, tid);
}

// ---------------------------------------------------------------- channels

#[test]
fn channel_256_is_the_last() {
    let rtr = Rtr::embedded().unwrap();
    let mut chans = Vec::new();
    for _ in 0..rtr_core::MAX_CHANNELS {
        chans.push(rtr.open_channel(client_params(FAC)).unwrap());
    }
    let e = rtr.open_channel(client_params(FAC)).unwrap_err();
    assert_eq!(e, RtrError::TooManyChannels);
    assert_eq!(e.status(), Status::Toomanychn);
    // A server channel counts the same.
    assert_eq!(err_status(rtr.open_channel(server_params(FAC, 1, 2, 0))), Status::Toomanychn);
    // A second process has its own 256.
    let other = rtr.connect_again().unwrap();
    open_client(&other);
    // Closing one frees a slot; ids are never reused.
    rtr.close_channel(chans[0], 0).unwrap();
    let again = rtr.open_channel(client_params(FAC)).unwrap();
    assert!(!chans.contains(&again));
    assert_eq!(err_status(rtr.open_channel(client_params(FAC))), Status::Toomanychn);
    // Every channel opened.
    for _ in 0..rtr_core::MAX_CHANNELS {
        let m = recv_any(&rtr);
        assert_eq!(m.sb.msgtype, MsgType::Opened);
    }
}

#[test]
fn calls_on_unknown_channels_are_invchannel() {
    let rtr = Rtr::embedded().unwrap();
    let c = open_client(&rtr);
    let s = open_server(&rtr, 1, 10, 0);
    let closed = open_client(&rtr);
    rtr.close_channel(closed, 0).unwrap();
    for ch in [0u32, 999, u32::MAX, closed] {
        let inv = |st: Status| assert_eq!(st, Status::Invchannel, "channel {ch}");
        inv(err_status(rtr.close_channel(ch, 0)));
        inv(err_status(rtr.start_tx(ch, 0, None)));
        inv(err_status(rtr.send_to_server(ch, 0, &msg(1, b"x"))));
        inv(err_status(rtr.reply_to_client(ch, 0, b"x")));
        inv(err_status(rtr.accept_tx(ch, 0, 0)));
        inv(err_status(rtr.reject_tx(ch, 0, 0)));
        inv(err_status(rtr.get_tid(ch, 0)));
        inv(err_status(rtr.set_user_handle(ch, 1)));
        inv(err_status(rtr.get_user_handle(ch)));
        assert_eq!(rtr.get_tid(ch, 0).unwrap_err(), RtrError::InvalidChannel(ch), "the error names the channel");
        // Receiving from it: an invalid receive list.
        assert_eq!(err_status(rtr.receive(&Which::List(vec![ch]), Some(Duration::ZERO))), Status::Invrcvchan);
        assert_eq!(err_status(rtr.receive(&Which::List(vec![c, ch]), Some(Duration::ZERO))), Status::Invrcvchan);
    }
    // Channels of another process are unknown here too.
    let other = rtr.connect_again().unwrap();
    assert_eq!(err_status(other.get_user_handle(c)), Status::Invchannel);
    assert_eq!(err_status(other.reply_to_client(s, 0, b"x")), Status::Invchannel);
}

#[test]
fn client_calls_on_a_server_channel_are_invop4srv() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_server(&rtr, 1, 10, 0);
    let e = rtr.send_to_server(s, 0, &msg(1, b"x")).unwrap_err();
    assert!(matches!(e, RtrError::ServerChannel { .. }), "{e:?}");
    assert_eq!(e.status(), Status::Invop4srv);
    assert_eq!(err_status(rtr.start_tx(s, 0, None)), Status::Invop4srv);
    assert_eq!(err_status(rtr.start_tx(s, 0, Some(100))), Status::Invop4srv);
}

#[test]
fn server_calls_on_a_client_channel_are_invop4cli() {
    let rtr = Rtr::embedded().unwrap();
    let _s = open_server(&rtr, 1, 10, 0);
    let c = open_client(&rtr);
    let e = rtr.reply_to_client(c, 0, b"x").unwrap_err();
    assert!(matches!(e, RtrError::ClientChannel { .. }), "{e:?}");
    assert_eq!(e.status(), Status::Invop4cli);
    // Also during a transaction.
    rtr.send_to_server(c, 0, &msg(1, b"x")).unwrap();
    assert_eq!(err_status(rtr.reply_to_client(c, rep::ACCEPT, b"x")), Status::Invop4cli);
    rtr.reject_tx(c, 0, 0).unwrap();
}

// ---------------------------------------------------------- transaction state

#[test]
fn votes_without_a_transaction_are_notacttx() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_server(&rtr, 1, 10, 0);
    let c = open_client(&rtr);
    for ch in [c, s] {
        let e = rtr.accept_tx(ch, 0, 0).unwrap_err();
        assert_eq!(e, RtrError::NoTransaction(ch));
        assert_eq!(e.status(), Status::Notacttx);
        assert_eq!(err_status(rtr.reject_tx(ch, 0, 0)), Status::Notacttx);
        assert_eq!(err_status(rtr.get_tid(ch, 0)), Status::Notacttx);
    }
    assert_eq!(err_status(rtr.reply_to_client(s, 0, b"x")), Status::Notacttx);
    assert_eq!(err_status(rtr.reply_to_client(s, rep::ACCEPT, b"x")), Status::Notacttx);
    // The transaction arrived at the node but was not received yet: still none.
    rtr.send_to_server(c, 0, &msg(1, b"x")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(err_status(rtr.accept_tx(s, 0, 0)), Status::Notacttx);
    expect(&rtr, s, MsgType::Msg1);
    rtr.accept_tx(s, 0, 0).unwrap();
    rtr.accept_tx(c, 0, 0).unwrap();
    expect_accepted(&rtr, s, tid);
    expect_accepted(&rtr, c, tid);
    // After the outcome: none again.
    assert_eq!(err_status(rtr.accept_tx(s, 0, 0)), Status::Notacttx);
    assert_eq!(err_status(rtr.accept_tx(c, 0, 0)), Status::Notacttx);
}

#[test]
fn calls_after_the_clients_accept_are_txalracc() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_server(&rtr, 1, 10, ope::EXPLICIT_ACCEPT);
    let c = open_client(&rtr);
    rtr.send_to_server(c, 0, &msg(1, b"x")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    rtr.accept_tx(c, 0, 0).unwrap();
    let e = rtr.send_to_server(c, 0, &msg(1, b"y")).unwrap_err();
    assert_eq!(e, RtrError::AlreadyAccepted(c));
    assert_eq!(e.status(), Status::Txalracc);
    assert_eq!(err_status(rtr.send_to_server(c, sen::ACCEPT, &msg(1, b"y"))), Status::Txalracc);
    assert_eq!(err_status(rtr.accept_tx(c, 0, 0)), Status::Txalracc);
    assert_eq!(err_status(rtr.reject_tx(c, 0, 0)), Status::Txalracc);
    assert_eq!(err_status(rtr.start_tx(c, 0, None)), Status::Txactive);
    // Only one message reached the server.
    expect(&rtr, s, MsgType::Msg1);
    assert_quiet(&rtr, s);
    rtr.accept_tx(s, 0, 0).unwrap();
    expect_accepted(&rtr, s, tid);
    expect_accepted(&rtr, c, tid);
}

#[test]
fn start_tx_twice_is_txactive() {
    let rtr = Rtr::embedded().unwrap();
    let c = open_client(&rtr);
    rtr.start_tx(c, 0, None).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    let e = rtr.start_tx(c, 0, Some(10)).unwrap_err();
    assert_eq!(e, RtrError::TxActive(c));
    assert_eq!(e.status(), Status::Txactive);
    // The failed call changed nothing (in particular no 10 ms timeout).
    assert_eq!(rtr.get_tid(c, 0).unwrap(), tid);
    assert_quiet(&rtr, c);
    rtr.reject_tx(c, 0, 0).unwrap();
    expect_rejected(&rtr, c, tid, Status::Rejected, 0);
    // Implicitly started transactions count too.
    let _s = open_server(&rtr, 1, 10, 0);
    rtr.send_to_server(c, 0, &msg(1, b"x")).unwrap();
    assert_eq!(err_status(rtr.start_tx(c, 0, None)), Status::Txactive);
}

// --------------------------------------------------------- flags per call

#[test]
fn invalid_flags_per_call() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_server(&rtr, 1, 10, ope::EXPLICIT_ACCEPT);
    let c = open_client(&rtr);
    let invflags = |st: Status, what: &str| assert_eq!(st, Status::Invflags, "{what}");

    invflags(err_status(rtr.start_tx(c, 1, None)), "start_tx 1");
    invflags(err_status(rtr.start_tx(c, u32::MAX, None)), "start_tx max");
    invflags(err_status(rtr.send_to_server(c, sen::ALL + 1, &msg(1, b"x"))), "send");
    invflags(err_status(rtr.send_to_server(c, 1 << 31, &msg(1, b"x"))), "send high");
    invflags(err_status(rtr.close_channel(c, clo::ALL + 1)), "close");
    invflags(err_status(rtr.get_tid(c, flags::tid::ALL + 1)), "get_tid");
    invflags(err_status(rtr.get_tid(c, flags::tid::DDTM)), "get_tid DDTM");
    // Nothing above started a transaction or closed the channel.
    assert_eq!(err_status(rtr.get_tid(c, 0)), Status::Notacttx);

    rtr.send_to_server(c, 0, &msg(1, b"x")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    expect(&rtr, s, MsgType::Msg1);
    invflags(err_status(rtr.reply_to_client(s, rep::ALL + 1, b"r")), "reply");
    invflags(err_status(rtr.accept_tx(s, acc::ALL + 1, 0)), "accept server");
    invflags(err_status(rtr.accept_tx(c, acc::ALL + 1, 0)), "accept client");
    invflags(err_status(rtr.reject_tx(s, rej::ALL + 1, 0)), "reject server");
    invflags(err_status(rtr.reject_tx(c, 1 << 7, 0)), "reject client");
    // (RTR_F_SEN_EXPENDABLE, _READONLY, _RETURN_TO_SENDER, RTR_F_REP_INDEPENDENT,
    // RTR_F_REP_FORGET, RTR_F_ACC_INDEPENDENT, RTR_F_ACC_FORGET and
    // RTR_F_REJ_RETRY on servers are implemented: tests/api_flags.rs.)
    invflags(err_status(rtr.reject_tx(c, rej::RETRY, 0)), "REJ_RETRY on a client");
    // None of the failed calls voted or sent anything: the transaction is intact.
    assert_quiet(&rtr, s);
    assert_eq!(rtr.get_tid(c, flags::tid::RTR).unwrap(), tid);
    rtr.accept_tx(c, 0, 0).unwrap();
    rtr.accept_tx(s, 0, 0).unwrap();
    expect_accepted(&rtr, s, tid);
    expect_accepted(&rtr, c, tid);
}

#[test]
fn close_force_closes_and_rejects_the_transaction() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_server(&rtr, 1, 10, 0);
    let c = open_client(&rtr);
    rtr.send_to_server(c, 0, &msg(1, b"x")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    expect(&rtr, s, MsgType::Msg1);
    rtr.close_channel(c, clo::FORCE).unwrap();
    expect_rejected(&rtr, s, tid, Status::Reqdied, 0);
    assert_eq!(err_status(rtr.get_tid(c, 0)), Status::Invchannel);
}

// ---------------------------------------------------------------- receive

#[test]
fn receive_list_errors() {
    let rtr = Rtr::embedded().unwrap();
    // No channel at all.
    let e = rtr.receive(&Which::Any, Some(Duration::ZERO)).unwrap_err();
    assert!(matches!(e, RtrError::InvalidReceiveList(_)), "{e:?}");
    assert_eq!(e.status(), Status::Invrcvchan);
    let c = open_client(&rtr);
    assert_eq!(err_status(rtr.receive(&Which::List(vec![]), Some(Duration::ZERO))), Status::Invrcvchan);
    assert_eq!(err_status(rtr.receive(&Which::List(vec![c + 1]), Some(WAIT))), Status::Invrcvchan);
    let mut buf = [0u8; 8];
    assert_eq!(err_status(rtr.receive_into(&Which::List(vec![]), &mut buf, Some(Duration::ZERO))), Status::Invrcvchan);
    // A valid list with nothing in it times out.
    let e = rtr.receive(&Which::List(vec![c]), Some(Duration::from_millis(20))).unwrap_err();
    assert_eq!(e, RtrError::Timeout);
    assert_eq!(e.status(), Status::Timout);
}

#[test]
fn receive_into_a_small_buffer_truncates_and_gives_the_full_length() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_server(&rtr, 1, 10, 0);
    let c = open_client(&rtr);
    let data = msg(3, b"a fairly long message body");
    rtr.send_to_server(c, 0, &data).unwrap();
    rtr.send_to_server(c, 0, &msg(4, b"next")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap();
    let mut small = [0u8; 6];
    let sb = rtr.receive_into(&Which::List(vec![s]), &mut small, Some(WAIT)).unwrap();
    assert_eq!(sb.msgtype, MsgType::Msg1);
    assert!(sb.truncated);
    assert_eq!(sb.msglen, data.len());
    assert_eq!(&small[..], &data[..6]);
    // The truncated message was consumed; the next one follows, and it is the same transaction.
    assert_eq!(rtr.get_tid(s, 0).unwrap(), tid);
    let mut none = [0u8; 0];
    let sb = rtr.receive_into(&Which::List(vec![s]), &mut none, Some(WAIT)).unwrap();
    assert_eq!(sb.msgtype, MsgType::Msgn);
    assert!(sb.truncated);
    assert_eq!(sb.msglen, 8);
    // Status data (8 bytes) truncates too.
    rtr.accept_tx(c, 0, 0).unwrap();
    let mut four = [0u8; 4];
    let sb = rtr.receive_into(&Which::List(vec![s]), &mut four, Some(WAIT)).unwrap();
    assert_eq!(sb.msgtype, MsgType::Accepted);
    assert!(sb.truncated);
    assert_eq!(sb.msglen, 8);
    assert_eq!(i32::from_ne_bytes(four), Status::Ok.code());
    expect_accepted(&rtr, c, tid);
}

// ------------------------------------------------------------- error texts

#[test]
fn every_error_has_a_text_and_a_failure_status() {
    let errors = [
        RtrError::InvalidChannel(3),
        RtrError::InvalidFlags { call: "x", flags: 1 },
        RtrError::Unsupported { flag: "F", why: "w" },
        RtrError::InvalidFacility("f".into()),
        RtrError::InvalidRecipient("r".into()),
        RtrError::InvalidAccess("a".into()),
        RtrError::InvalidEventList("e".into()),
        RtrError::KeysOnClient,
        RtrError::InvalidMsgLen { len: 64_001 },
        RtrError::ServerChannel { call: "c" },
        RtrError::ClientChannel { call: "c" },
        RtrError::NoTransaction(1),
        RtrError::AlreadyAccepted(1),
        RtrError::TxActive(1),
        RtrError::TooManyChannels,
        RtrError::ChannelClosed(1),
        RtrError::Timeout,
        RtrError::BufferTooSmall { needed: 9, given: 8 },
        RtrError::InvalidReceiveList("l".into()),
        RtrError::NullPointer("p"),
        RtrError::InvalidTimeout("t".into()),
        RtrError::InvalidJoin,
        RtrError::NodeUnavailable("n".into()),
        RtrError::Internal("i".into()),
    ];
    let mut seen = std::collections::HashSet::new();
    for e in errors {
        let st = e.status();
        assert!(!st.is_success(), "{e:?} maps to a success status");
        assert!(!e.to_string().is_empty());
        assert!(seen.insert(st), "{e:?}: two errors map to {st:?}");
    }
}
