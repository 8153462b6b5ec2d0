//! Management of a running node thread: definitions saved and applied in
//! order, views answered by the node thread, a graceful stop that releases
//! the journal before it answers.

use std::time::Duration;

use super::*;
use crate::facility::FacilityStore;
use crate::flags;
use crate::journal::{self, JournalConfig};
use crate::protocol::admin::{AdminReply, AdminRequest, BeState, FeState, TrState};
use crate::{EmbeddedConfig, MsgType, OpenParams, Rtr, Status, Which};

fn create(name: &str, fe: &[&str], tr: &[&str], be: &[&str]) -> AdminRequest {
    let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
    AdminRequest::CreateFacility { name: name.into(), frontends: v(fe), routers: v(tr), backends: v(be) }
}

fn done(r: AdminReply) -> String {
    match r {
        AdminReply::Done { message } => message,
        other => panic!("not done: {other:?}"),
    }
}

fn code(r: AdminReply) -> String {
    match r {
        AdminReply::Failed(e) => e.code().to_string(),
        other => panic!("not refused: {other:?}"),
    }
}

fn open(rtr: &Rtr, client: bool, facility: &str) -> (MsgType, Option<(i32, u32)>) {
    let flags = if client { flags::ope::CLIENT } else { flags::ope::SERVER };
    let ch = rtr.open_channel(OpenParams { flags, facility: Some(facility.into()), ..Default::default() }).unwrap();
    let m = rtr.receive(&Which::List(vec![ch]), Some(Duration::from_secs(10))).unwrap();
    (m.sb.msgtype, m.status())
}

#[test]
fn definitions_are_saved_applied_and_shown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("facilities.conf");
    let node = EmbeddedNode::start().unwrap();
    assert_eq!(code(node.admin(create("X", &["me"], &["me"], &["me"]))), "UNSUPPORTED");
    node.set_facility_store(FacilityStore::open(&path, "me").unwrap());
    let m = done(node.admin(create("bank", &["me", "other"], &["me"], &["other", "third"])));
    assert_eq!(
        m,
        "facility BANK created; this node (me) is FE,TR; other, third cannot be linked: this node runs without links \
         (an embedded node)"
    );
    assert_eq!(code(node.admin(create("BANK", &["me"], &["me"], &["me"]))), "FACEXISTS");
    assert_eq!(code(node.admin(create("B2", &[], &["me", "ME"], &["me"]))), "DUPNODNAM");
    assert_eq!(code(node.admin(create("9B", &[], &["me"], &["me"]))), "INVFACNAM");
    assert_eq!(code(node.admin(create("B3", &["me"], &[], &["me"]))), "NOROUTER");
    // Saved: a new store on the same file sees it.
    assert!(FacilityStore::open(&path, "me").unwrap().table().get("BANK").is_some());

    // Applied: this node is no backend of BANK, and a frontend.
    let rtr = Rtr::connect(&node).unwrap();
    let (t, s) = open(&rtr, false, "BANK");
    assert_eq!((t, s.map(|s| s.0)), (MsgType::Closed, Some(Status::Notbackend.code())));
    assert_eq!(open(&rtr, true, "BANK").0, MsgType::Opened);
    match node.admin(AdminRequest::ShowFacility) {
        AdminReply::Facilities { node, rows } => {
            assert_eq!(node, "me");
            assert_eq!(rows.len(), 1);
            assert_eq!(
                (rows[0].name.as_str(), rows[0].clients, rows[0].roles.to_string()),
                ("BANK", 1, "FE,TR".into())
            );
        }
        other => panic!("{other:?}"),
    }
    let m = done(node.admin(AdminRequest::DeleteFacility { name: "Bank".into() }));
    assert!(m.starts_with("facility BANK deleted; its 1 open channels stay open"), "{m}");
    assert_eq!(code(node.admin(AdminRequest::DeleteFacility { name: "bank".into() })), "NOSUCHFAC");
    assert_eq!(open(&rtr, false, "BANK").0, MsgType::Opened);
    assert_eq!(node.admin(AdminRequest::ShowLink), AdminReply::Links { rows: vec![] });
}

#[test]
fn views_name_the_processes_and_follow_a_held_transaction() {
    let node = EmbeddedNode::start().unwrap();
    let server = Rtr::connect(&node).unwrap();
    let client = Rtr::connect(&node).unwrap();
    assert_eq!(open(&server, false, "V").0, MsgType::Opened);
    let ch = client
        .open_channel(OpenParams { flags: flags::ope::CLIENT, facility: Some("V".into()), ..Default::default() })
        .unwrap();
    client.receive(&Which::List(vec![ch]), Some(Duration::from_secs(10))).unwrap();
    client.send_to_server(ch, 0, b"held").unwrap();
    let tid = client.get_tid(ch, 0).unwrap();
    let m = server.receive(&Which::Any, Some(Duration::from_secs(10))).unwrap();
    assert_eq!(m.sb.msgtype, MsgType::Msg1);
    let AdminReply::Transactions { rows, omitted: 0 } = node.admin(AdminRequest::ShowTransaction) else {
        panic!("no transactions")
    };
    assert_eq!(rows.len(), 1);
    let t = &rows[0];
    assert_eq!(t.tid, tid);
    assert_eq!((t.frontend, t.router.map(|r| r.state)), (Some(FeState::Sending), Some(TrState::Sending)));
    assert_eq!(t.branches[0].state, BeState::Receiving);
    // In-process connections made with `connect` name no process.
    assert_eq!(t.client_pid, 0);
    let AdminReply::Servers { rows, .. } = node.admin(AdminRequest::ShowServer) else { panic!() };
    assert_eq!((rows.len(), rows[0].tid), (1, Some(tid)));
    let AdminReply::Partitions { rows, .. } = node.admin(AdminRequest::ShowPartition) else { panic!() };
    assert_eq!((rows[0].servers, rows[0].in_progress), (1, 1));
    // A connection that says who it is.
    struct Quiet;
    impl DeliverySink for Quiet {
        fn deliver(&self, _: Vec<crate::protocol::Delivery>) {}
        fn node_stopped(&self) {}
    }
    let link = node.connect_process(Arc::new(Quiet), 4242).unwrap();
    link.send(crate::protocol::Request::Open {
        chan: 1,
        role: crate::protocol::Role::Server,
        facility: "V".into(),
        flags: flags::ope::SERVER,
        range: Default::default(),
    });
    let AdminReply::Servers { rows, .. } = node.admin(AdminRequest::ShowServer) else { panic!() };
    assert_eq!(rows.iter().map(|s| s.pid).collect::<Vec<_>>(), vec![0, 4242]);
}

#[test]
fn a_stop_closes_connections_and_releases_the_journal_before_answering() {
    let dir = tempfile::tempdir().unwrap();
    let jdir = dir.path().join("journal");
    let node = EmbeddedNode::start_with(EmbeddedConfig::journaled(&jdir)).unwrap();
    let rtr = Rtr::connect(&node).unwrap();
    assert_eq!(open(&rtr, true, "S").0, MsgType::Opened);
    assert!(!node.is_stopping());
    let m = done(node.admin(AdminRequest::Stop));
    assert_eq!(m, "1 application connection closed, journal flushed");
    assert!(node.is_stopping());
    // The journal is closed: another owner opens it without force.
    let cfg = JournalConfig { dir: jdir, ..JournalConfig::default() };
    assert!(journal::open_or_create(&cfg).is_ok());
    // The application sees the node gone; later requests find it stopped.
    let e = rtr.receive(&Which::Any, Some(Duration::from_secs(10))).unwrap_err();
    assert_eq!(e.status(), Status::Nodeunavail, "{e:?}");
    assert_eq!(code(node.admin(AdminRequest::ShowServer)), "NODEUNAVAIL");
    assert_eq!(done(node.admin(AdminRequest::Stop)), "it was already stopping");
}
