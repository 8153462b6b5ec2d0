//! rtr_request_info and rtr_set_info through the channel API: each opens an
//! information channel whose answer (records, then `rtr_mt_closed`) is
//! queued when the call returns; set_info changes are visible through
//! request_info and in how transactions are presented.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;
use rtr_core::protocol::ChanId;
use rtr_core::qualifier::{QualValue, Qualifier, PARTITION_OBJECT, VERB_SET};
use rtr_core::{Message, MsgType, Rtr, RtrError, Status, Which};

type Record = HashMap<String, String>;

/// The records of an information channel and the (status, reason) of the
/// `rtr_mt_closed` that ends them.
fn answer(rtr: &Rtr, ch: ChanId) -> (Vec<Record>, (Status, u32)) {
    let mut records = Vec::new();
    loop {
        let m = recv(rtr, ch);
        match m.sb.msgtype {
            MsgType::RequestInfo => records.push(parse(&m)),
            MsgType::Closed => return (records, status_of(&m)),
            other => panic!("unexpected {other:?} on an information channel: {m:?}"),
        }
    }
}

/// One record: `item=value` lines joined by `\n`, ended by a NUL.
fn parse(m: &Message) -> Record {
    assert_eq!(m.sb.msglen, m.data.len());
    let (last, text) = m.data.split_last().expect("a record is never empty");
    assert_eq!(*last, 0, "a record ends with a NUL: {m:?}");
    let text = std::str::from_utf8(text).expect("records are text");
    assert!(!text.contains('\0'));
    text.lines()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or_else(|| panic!("{l:?} is not item=value"));
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn query(rtr: &Rtr, class: &str, selitm: &str, selval: &str, getitms: &str) -> Vec<Record> {
    let ch = rtr.request_info(0, class, selitm, selval, getitms).expect("request_info");
    let (records, closed) = answer(rtr, ch);
    assert_eq!(closed, (Status::Ok, 0), "{class}");
    rtr.close_channel(ch, 0).expect("close the information channel");
    records
}

fn partition_id(rtr: &Rtr, fac: &str) -> String {
    let rows = query(rtr, "prt", "fac_name", fac, "prt_id");
    assert_eq!(rows.len(), 1, "{rows:?}");
    rows[0]["prt_id"].clone()
}

fn partition_state(rtr: &Rtr, fac: &str) -> Record {
    let rows = query(rtr, "PRT", "fac_name", fac, "state,waiting");
    assert_eq!(rows.len(), 1, "{rows:?}");
    rows[0].clone()
}

fn text(s: &str) -> QualValue {
    QualValue::Text(s.into())
}

fn select(fac: &str, id: &str) -> Vec<(u32, QualValue)> {
    vec![(Qualifier::FacilityName.code(), text(fac)), (Qualifier::PartitionName.code(), text(id))]
}

fn set(q: Qualifier, v: QualValue) -> Vec<(u32, QualValue)> {
    vec![(q.code(), v)]
}

/// A set_info call that the library accepts; the status of its `rtr_mt_closed`.
fn set_info(rtr: &Rtr, select: &[(u32, QualValue)], set: &[(u32, QualValue)]) -> Status {
    let ch = rtr.set_info(0, VERB_SET, PARTITION_OBJECT, select, set).expect("set_info");
    let (records, (status, reason)) = answer(rtr, ch);
    assert!(records.is_empty());
    assert_eq!(reason, 0);
    rtr.close_channel(ch, 0).expect("close");
    status
}

#[test]
fn every_class_lists_its_objects_then_closes() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_server_in(&rtr, "INFOFAC", 0, 100, 0);
    let c = open_client_in(&rtr, "INFOFAC");
    // A transaction in progress: the client sent, the server has it and has not voted.
    rtr.send_to_server(c, 0, &msg(5, b"x")).unwrap();
    let tid = rtr.get_tid(c, 0).unwrap().to_string();
    expect(&rtr, s, MsgType::Msg1);

    let fac = query(&rtr, "fac", "fac_name", "INFOFAC", "");
    assert_eq!(fac.len(), 1);
    assert_eq!(fac[0]["defined"], "no");
    assert_eq!(fac[0]["roles"], "FE,TR,BE");
    assert_eq!(
        (fac[0]["clients"].as_str(), fac[0]["servers"].as_str(), fac[0]["partitions"].as_str()),
        ("1", "1", "1")
    );
    assert_eq!(fac[0].len(), 10, "every item: {:?}", fac[0]);

    let prt = query(&rtr, "prt", "", "", "*");
    assert_eq!(prt.len(), 1);
    let p = &prt[0];
    assert_eq!((p["fac_name"].as_str(), p["state"].as_str(), p["servers"].as_str()), ("INFOFAC", "active", "1"));
    assert_eq!(p["prt_name"], p["prt_id"]);
    assert_eq!(p["in_progress"], "1");
    assert!(p["key_range"].contains("0..=100"), "{p:?}");

    let srv = query(&rtr, "srv", "", "", "");
    assert_eq!(srv.len(), 1);
    assert_eq!((srv[0]["state"].as_str(), srv[0]["tid"].as_str()), ("busy", tid.as_str()));
    assert_eq!(srv[0]["channel"], s.to_string());
    assert_eq!(srv[0]["prt_id"], p["prt_id"]);

    let ftx = query(&rtr, "ftx", "tid", &tid, "");
    assert_eq!(ftx.len(), 1);
    assert_eq!((ftx[0]["state"].as_str(), ftx[0]["fac_name"].as_str()), ("SENDING", "INFOFAC"));
    assert!(ftx[0]["client"].ends_with(&format!(".{c}")), "{:?}", ftx[0]);

    let rtx = query(&rtr, "rtx", "", "", "tid,state,branches,votes");
    assert_eq!(
        rtx,
        vec![Record::from([
            ("tid".into(), tid.clone()),
            ("state".into(), "SENDING".into()),
            ("branches".into(), "1".into()),
            ("votes".into(), "0".into()),
        ])]
    );

    let btx = query(&rtr, "btx", "", "", "");
    assert_eq!(btx.len(), 1);
    let b = &btx[0];
    assert_eq!(
        (b["tid"].as_str(), b["state"].as_str(), b["invocation"].as_str()),
        (tid.as_str(), "RECEIVING", "ORIGINAL")
    );
    assert_eq!((b["prt_id"].as_str(), b["messages"].as_str()), (p["prt_id"].as_str(), "1"));
    assert!(b["server"].ends_with(&format!(".{s}")), "{b:?}");

    // An embedded node has no links: no records, then closed with OK.
    assert!(query(&rtr, "lnk", "", "", "").is_empty());

    // Once the transaction is done, the transaction classes are empty again.
    rtr.accept_tx(s, 0, 0).unwrap();
    rtr.accept_tx(c, 0, 0).unwrap();
    expect(&rtr, c, MsgType::Accepted);
    expect(&rtr, s, MsgType::Accepted);
    assert!(query(&rtr, "ftx", "", "", "").is_empty());
}

#[test]
fn selection_and_item_lists() {
    let rtr = Rtr::embedded().unwrap();
    open_server_in(&rtr, "SEL_A", 0, 10, 0);
    open_server_in(&rtr, "SEL_B", 0, 10, 0);
    open_server_in(&rtr, "SEL_B", 0, 10, 0);

    assert_eq!(query(&rtr, "prt", "", "", "fac_name").len(), 2);
    // Case does not matter in the selection value; the items come in the order asked, named as asked.
    let b = query(&rtr, "prt", "fac_name", "sel_b", "State, SERVERS");
    assert_eq!(b, vec![Record::from([("State".into(), "active".into()), ("SERVERS".into(), "2".into())])]);
    let ch = rtr.request_info(0, "prt", "fac_name", "sel_b", "servers,fac_name").unwrap();
    let m = expect(&rtr, ch, MsgType::RequestInfo);
    assert_eq!(m.data, b"servers=2\nfac_name=SEL_B\0");
    // The manuals' selection item.
    assert_eq!(
        query(&rtr, "srv", "fdb_f_name", "SEL_A", "fdb_f_name"),
        vec![Record::from([("fdb_f_name".into(), "SEL_A".into())])]
    );
    // Nothing matches: no record, still closed with OK.
    assert!(query(&rtr, "prt", "fac_name", "NOPE", "").is_empty());
    assert!(query(&rtr, "prt", "state", "suspended", "").is_empty());
    assert_eq!(query(&rtr, "prt", "state", "ACTIVE", "").len(), 2);
}

#[test]
fn bad_arguments_open_nothing() {
    let rtr = Rtr::embedded().unwrap();
    let long = "x".repeat(256);
    for (class, selitm, selval, getitms) in [
        ("nope", "", "", ""),
        ("", "", "", ""),
        ("prt", "bogus", "1", ""),
        ("prt", "", "", "state,bogus"),
        ("prt", "", "", "state,"),
        ("fac", "tid", "1", ""),
        ("prt", "state", long.as_str(), ""),
    ] {
        let r = rtr.request_info(0, class, selitm, selval, getitms);
        assert_eq!(err_status(r), Status::Invselitm, "{class:?} {selitm:?} {getitms:?}");
    }
    assert_eq!(err_status(rtr.request_info(1, "prt", "", "", "")), Status::Invflags);
    // Nothing was opened: there is no channel to receive from.
    assert!(matches!(rtr.receive(&Which::Any, Some(QUIET)), Err(RtrError::InvalidReceiveList(_))));

    let good = select("F", "1");
    let resume = set(Qualifier::StateResume, QualValue::None);
    assert_eq!(err_status(rtr.set_info(0, 0, PARTITION_OBJECT, &good, &resume)), Status::Invobjct);
    assert_eq!(err_status(rtr.set_info(0, VERB_SET, 7, &good, &resume)), Status::Invobjct);
    assert_eq!(err_status(rtr.set_info(4, VERB_SET, PARTITION_OBJECT, &good, &resume)), Status::Invflags);
    assert_eq!(err_status(rtr.set_info(0, VERB_SET, PARTITION_OBJECT, &good[..1], &resume)), Status::Invselitm);
    assert_eq!(err_status(rtr.set_info(0, VERB_SET, PARTITION_OBJECT, &good, &[])), Status::Invqualifier);
    let zero = set(Qualifier::RcvyRetryCount, QualValue::Number(0));
    assert_eq!(err_status(rtr.set_info(0, VERB_SET, PARTITION_OBJECT, &good, &zero)), Status::Invqualifier);
    let pre32 = set(Qualifier::Pre32Compatible, QualValue::None);
    assert_eq!(err_status(rtr.set_info(0, VERB_SET, PARTITION_OBJECT, &good, &pre32)), Status::Unsupported);
    // The shadow switch takes a number (0 off, else on).
    let shadow = set(Qualifier::StateShadow, QualValue::None);
    assert_eq!(err_status(rtr.set_info(0, VERB_SET, PARTITION_OBJECT, &good, &shadow)), Status::Invqualifier);
    assert!(matches!(rtr.receive(&Which::Any, Some(QUIET)), Err(RtrError::InvalidReceiveList(_))));
}

#[test]
fn suspend_and_resume_hold_and_release_new_work() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_server_in(&rtr, "SUSP", 0, 100, 0);
    let c = open_client_in(&rtr, "SUSP");
    let id = partition_id(&rtr, "SUSP");

    let suspend = set(Qualifier::StateSuspend, QualValue::None);
    assert_eq!(set_info(&rtr, &select("susp", &id), &suspend), Status::Ok);
    assert_eq!(partition_state(&rtr, "SUSP")["state"], "suspended");

    rtr.send_to_server(c, 0, &msg(1, b"held")).unwrap();
    assert_quiet(&rtr, s);
    assert_eq!(partition_state(&rtr, "SUSP")["waiting"], "1");

    // Resume, with the failover policy (accepted: not a shadow partition) and a retry count.
    let resume = vec![
        (Qualifier::FailToStandby.code(), QualValue::None),
        (Qualifier::StateResume.code(), QualValue::None),
        (Qualifier::RcvyRetryCount.code(), QualValue::Number(4)),
    ];
    assert_eq!(set_info(&rtr, &select("SUSP", &id), &resume), Status::Ok);
    expect(&rtr, s, MsgType::Msg1);
    assert_eq!(partition_state(&rtr, "SUSP")["state"], "active");
}

#[test]
fn refusals_arrive_as_the_closed_status() {
    let rtr = Rtr::embedded().unwrap();
    open_server_in(&rtr, "REF", 0, 100, 0);
    let id = partition_id(&rtr, "REF");
    let suspend = set(Qualifier::StateSuspend, QualValue::Number(30));
    // No such partition (another facility, another id).
    assert_eq!(set_info(&rtr, &select("OTHER", &id), &suspend), Status::Invobjct);
    assert_eq!(set_info(&rtr, &select("REF", "999999"), &suspend), Status::Invobjct);
    let policy = set(Qualifier::FailToStandby, QualValue::None);
    assert_eq!(set_info(&rtr, &select("REF", "999999"), &policy), Status::Invobjct);
    assert_eq!(set_info(&rtr, &select("REF", &id), &policy), Status::Ok);
    // Not a shadow partition: it cannot fail over to a shadow.
    let to_shadow = set(Qualifier::FailToShadow, QualValue::None);
    assert_eq!(set_info(&rtr, &select("REF", &id), &to_shadow), Status::Unsupported);
    // Exitwait on a partition that waits for no journal.
    let exitwait = set(Qualifier::StateExitwait, QualValue::None);
    assert_eq!(set_info(&rtr, &select("REF", &id), &exitwait), Status::Invqualifier);
    // The changes before a refusal stay made.
    let both =
        vec![(Qualifier::StateSuspend.code(), QualValue::None), (Qualifier::StateRecover.code(), QualValue::None)];
    assert_eq!(set_info(&rtr, &select("REF", &id), &both), Status::Invqualifier);
    assert_eq!(partition_state(&rtr, "REF")["state"], "suspended");
    let list = set(Qualifier::BePriorityList, text("nodeb, nodea"));
    assert_eq!(set_info(&rtr, &select("REF", &id), &list), Status::Ok);
}

#[test]
fn an_information_channel_takes_no_transactional_call_and_closes_like_any_other() {
    let rtr = Rtr::embedded().unwrap();
    open_server_in(&rtr, "CH", 0, 100, 0);
    let ch = rtr.request_info(0, "prt", "", "", "state").unwrap();
    rtr.set_user_handle(ch, 77).unwrap();
    assert_eq!(err_status(rtr.accept_tx(ch, 0, 0)), Status::Invchannel);
    assert_eq!(err_status(rtr.send_to_server(ch, 0, b"x")), Status::Invchannel);
    assert_eq!(err_status(rtr.reply_to_client(ch, 0, b"x")), Status::Invchannel);
    assert_eq!(err_status(rtr.broadcast_event(ch, 0, b"", 1, None)), Status::Invchannel);
    assert_eq!(err_status(rtr.get_tid(ch, 0)), Status::Invchannel);
    let m = rtr.receive(&Which::Any, Some(WAIT)).unwrap();
    assert_eq!((m.sb.channel, m.sb.msgtype, m.sb.usrhdl), (ch, MsgType::RequestInfo, 77));
    let m = expect(&rtr, ch, MsgType::Closed);
    assert_eq!((status_of(&m), m.sb.usrhdl), ((Status::Ok, 0), 77));
    assert_eq!(err_status(rtr.set_user_handle(ch, 1)), Status::Chanclosed);
    assert_eq!(err_status(rtr.receive(&Which::List(vec![ch]), Some(QUIET))), Status::Invrcvchan);
    rtr.close_channel(ch, 0).unwrap();
    assert_eq!(err_status(rtr.close_channel(ch, 0)), Status::Invchannel);
    // Closing before receiving discards the answer.
    let ch = rtr.request_info(0, "prt", "", "", "").unwrap();
    rtr.close_channel(ch, 0).unwrap();
    open_client_in(&rtr, "CH");
    assert!(matches!(rtr.receive(&Which::Any, Some(QUIET)), Err(RtrError::Timeout)), "the answer was discarded");
}

#[test]
fn the_answer_wakes_the_routine_and_the_descriptor() {
    let rtr = Rtr::embedded().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let k = calls.clone();
    rtr.set_wakeup(Some(Arc::new(move || {
        k.fetch_add(1, Ordering::SeqCst);
    })))
    .unwrap();
    let fd = rtr.wakeup_fd().unwrap();
    let ch = rtr.request_info(0, "fac", "", "", "").unwrap();
    // Queued before the call returned: no wait needed.
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd, zero timeout.
    assert_eq!(unsafe { libc::poll(&mut p, 1, 0) }, 1);
    let (_, closed) = answer(&rtr, ch);
    assert_eq!(closed, (Status::Ok, 0));
    // SAFETY: as above.
    assert_eq!(unsafe { libc::poll(&mut p, 1, 0) }, 0, "nothing waits any more");
    let ch2 =
        rtr.set_info(0, VERB_SET, PARTITION_OBJECT, &select("F", "1"), &set(Qualifier::StateResume, QualValue::None));
    assert!(ch2.is_ok());
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[test]
fn a_receiver_blocked_on_any_channel_gets_the_answer() {
    let rtr = Rtr::embedded().unwrap();
    // An open channel, so that a receive on any channel waits.
    open_client_in(&rtr, "BLOCK");
    let r2 = rtr.clone();
    let waiter = std::thread::spawn(move || r2.receive(&Which::Any, Some(WAIT)));
    std::thread::sleep(QUIET);
    let ch = rtr.request_info(0, "fac", "", "", "fac_name").unwrap();
    let m = waiter.join().unwrap().expect("the blocked receive returns the record");
    assert_eq!((m.sb.channel, m.sb.msgtype), (ch, MsgType::RequestInfo));
    assert_eq!(m.data, b"fac_name=BLOCK\0");
}

#[test]
fn both_calls_work_against_a_node_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let node = rtr_core::runtime::EmbeddedNode::start_with(rtr_core::EmbeddedConfig::default()).unwrap();
    let socket = dir.path().join("rtr.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    std::thread::spawn(move || rtr_core::transport::unix::serve(listener, node));
    let rtr = Rtr::connect_socket(&socket).unwrap();
    let s = open_server_in(&rtr, "DMN", 0, 100, 0);
    let c = open_client_in(&rtr, "DMN");
    let id = partition_id(&rtr, "DMN");
    let srv = query(&rtr, "srv", "fac_name", "DMN", "pid,channel");
    assert_eq!(srv[0]["pid"], std::process::id().to_string(), "a daemon knows its clients' processes");
    assert_eq!(srv[0]["channel"], s.to_string());

    assert_eq!(set_info(&rtr, &select("DMN", &id), &set(Qualifier::StateSuspend, QualValue::None)), Status::Ok);
    assert_eq!(partition_state(&rtr, "DMN")["state"], "suspended");
    rtr.send_to_server(c, 0, &msg(1, b"held")).unwrap();
    assert_quiet(&rtr, s);
    assert_eq!(set_info(&rtr, &select("DMN", &id), &set(Qualifier::StateResume, QualValue::None)), Status::Ok);
    expect(&rtr, s, MsgType::Msg1);
    assert_eq!(
        set_info(&rtr, &select("DMN", "424242"), &set(Qualifier::StateResume, QualValue::None)),
        Status::Invobjct
    );
}

#[test]
fn a_daemon_that_went_away_is_the_closed_status() {
    let dir = tempfile::tempdir().unwrap();
    let node = rtr_core::runtime::EmbeddedNode::start_with(rtr_core::EmbeddedConfig::default()).unwrap();
    let socket = dir.path().join("rtr.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    std::thread::spawn(move || rtr_core::transport::unix::serve(listener, node));
    let rtr = Rtr::connect_socket(&socket).unwrap();
    // The socket file goes: the next admin connection cannot be made.
    std::fs::remove_file(&socket).unwrap();
    let ch = rtr.request_info(0, "prt", "", "", "").unwrap();
    let (records, closed) = answer(&rtr, ch);
    assert!(records.is_empty());
    assert_eq!(closed, (Status::Nodeunavail, 0));
}
