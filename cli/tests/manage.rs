//! Managing a node daemon with the `rtr` command: facility definitions
//! (create, refusals, delete, kept across a restart), the roles they give
//! the node, the show commands (tables and `--json`) while a server process
//! and a client hold a transaction, and a graceful `rtr stop`.
//!
//! Every process is killed when its guard drops (also when a test fails);
//! every wait is bounded.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rtr_core::{flags, MsgType, OpenParams, Rtr, Status, Which};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);

mod common;

use common::{spawn, Out, Proc};

/// Run an `rtr` command to its end (killed after a bounded wait).
fn rtr(args: &[&str]) -> Out {
    common::rtr_within(args, Duration::from_secs(60))
}

struct Node {
    proc: Proc,
    dir: PathBuf,
    socket: PathBuf,
}

impl Node {
    fn start(dir: &Path, name: Option<&str>) -> Node {
        let socket = dir.join("rtr.sock");
        let d = dir.to_str().unwrap();
        // Plain links asked for: the definitions here name other nodes,
        // which a node without TLS or --insecure-links refuses (tls.rs).
        let mut args = vec!["start", "--foreground", "--dir", d, "--insecure-links"];
        if let Some(n) = name {
            args.extend(["--name", n]);
        }
        let proc = spawn(&args, None);
        let until = Instant::now() + WAIT;
        while UnixStream::connect(&socket).is_err() {
            assert!(Instant::now() < until, "the node did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Node { proc, dir: dir.to_path_buf(), socket }
    }

    /// `rtr ARGS --dir DIR`.
    fn rtr(&self, args: &[&str]) -> Out {
        let mut a = args.to_vec();
        a.extend(["--dir", self.dir.to_str().unwrap()]);
        rtr(&a)
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.rtr(args);
        assert_eq!(o.code, 0, "rtr {args:?}: {}{}", o.stdout, o.stderr);
        o.stdout
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        let o = self.rtr(&a);
        assert_eq!(o.code, 0, "rtr {args:?}: {}{}", o.stdout, o.stderr);
        o.json()
    }

    /// A refused command: its exit code, its RTR-style message, and the
    /// code in its `--json` form.
    fn refused(&self, args: &[&str], code: &str) -> String {
        let o = self.rtr(args);
        assert_eq!(o.code, 1, "rtr {args:?} was not refused: {}", o.stdout);
        let prefix = format!("rtr: %RTR-E-{code}, ");
        assert!(o.stderr.starts_with(&prefix), "rtr {args:?}: {:?}", o.stderr);
        let mut a = args.to_vec();
        a.push("--json");
        let j = self.rtr(&a);
        assert_eq!(j.code, 1);
        let v = j.json();
        assert_eq!((v["ok"].as_bool(), v["code"].as_str()), (Some(false), Some(code)), "{v}");
        o.stderr.trim_end()[prefix.len()..].to_string()
    }
}

/// Table rows (after the header) split on runs of two or more spaces.
fn rows(table: &str, header: &str) -> Vec<Vec<String>> {
    let mut lines = table.lines().skip_while(|l| !l.starts_with(header));
    assert!(lines.next().is_some(), "no header {header:?} in {table}");
    lines.map(|l| l.split("  ").map(str::trim).filter(|c| !c.is_empty()).map(str::to_string).collect()).collect()
}

#[test]
fn facilities_are_created_checked_shown_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), Some("Alpha"));
    let out =
        node.ok(&["create", "facility", "bank", "--frontend", "alpha,beta", "--router", "alpha", "--backend", "alpha"]);
    assert_eq!(out.trim(), "facility BANK created; this node (alpha) is FE,TR,BE; linking to beta (see rtr show link)");
    let v = node.json(&["create", "facility", "Solo", "--all-roles", "ALPHA"]);
    assert_eq!(v["ok"], true);
    assert_eq!(v["message"], "facility SOLO created; this node (alpha) is FE,TR,BE");

    // RTR's rules.
    assert_eq!(
        node.refused(&["create", "facility", "dup", "--router", "a", "--backend", "b,c,B"], "DUPNODNAM"),
        "duplicate node name b in the backend list"
    );
    assert!(node
        .refused(&["create", "facility", "1bad", "--all-roles", "alpha"], "INVFACNAM")
        .contains("must start with a letter"));
    let long = "F".repeat(32);
    node.refused(&["create", "facility", &long, "--all-roles", "alpha"], "INVFACNAM");
    node.refused(&["create", "facility", "norouter", "--frontend", "alpha", "--backend", "alpha"], "NOROUTER");
    node.refused(&["create", "facility", "nobackend", "--router", "alpha"], "NOBACKEND");
    node.refused(&["create", "facility", "badnode", "--router", "al pha", "--backend", "x"], "INVNODNAM");
    assert_eq!(
        node.refused(&["create", "facility", "BANK", "--all-roles", "alpha"], "FACEXISTS"),
        "facility BANK already exists (delete it first to change it)"
    );

    // The table, and the same in JSON.
    let table = node.ok(&["show", "facility"]);
    assert!(table.starts_with("Facilities of node alpha:\n"), "{table}");
    let r = rows(&table, "Facility  Defined  This node  Frontends");
    assert_eq!(r.len(), 2, "{table}");
    assert_eq!(r[0], ["BANK", "yes", "FE,TR,BE", "alpha,beta", "alpha", "alpha", "0", "0", "0"]);
    assert_eq!(r[1][0], "SOLO");
    let v = node.json(&["show", "facility"]);
    assert_eq!(v["node"], "alpha");
    let bank = &v["facilities"][0];
    assert_eq!(bank["name"], "BANK");
    assert_eq!(bank["defined"], true);
    assert_eq!(bank["frontends"], serde_json::json!(["alpha", "beta"]));
    assert_eq!(bank["roles"], serde_json::json!({"frontend": true, "router": true, "backend": true}));

    // BANK calls for a link to beta (a frontend of this router), which
    // cannot be reached: it is listed, down, with why.
    let t = node.ok(&["show", "link"]);
    assert!(t.starts_with("Node  State"), "{t}");
    let v = node.json(&["show", "link"]);
    let links = v["links"].as_array().unwrap();
    assert_eq!(links.len(), 1, "{v}");
    assert_eq!(links[0]["node"], "beta");
    assert!(links[0]["state"].as_str().unwrap().starts_with("down"), "{v}");

    assert_eq!(node.ok(&["delete", "facility", "solo"]).trim(), "facility SOLO deleted");
    assert_eq!(node.refused(&["delete", "facility", "solo"], "NOSUCHFAC"), "facility SOLO is not defined on this node");
    assert_eq!(node.json(&["show", "facility"])["facilities"].as_array().unwrap().len(), 1);
}

#[test]
fn a_node_plays_only_the_roles_its_definitions_give_it() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), Some("alpha"));
    node.ok(&["create", "facility", "BEONLY", "--frontend", "beta", "--router", "beta", "--backend", "alpha"]);
    node.ok(&["create", "facility", "FEONLY", "--frontend", "alpha", "--router", "beta", "--backend", "beta"]);
    let rtr = Rtr::connect_socket(&node.socket).unwrap();
    let open = |client: bool, facility: &str| {
        let fl = if client { flags::ope::CLIENT } else { flags::ope::SERVER };
        let ch =
            rtr.open_channel(OpenParams { flags: fl, facility: Some(facility.into()), ..Default::default() }).unwrap();
        let m = rtr.receive(&Which::List(vec![ch]), Some(WAIT)).unwrap();
        (m.sb.msgtype, m.status().map(|s| s.0))
    };
    assert_eq!(open(true, "BEONLY"), (MsgType::Closed, Some(Status::Notfrontend.code())));
    assert_eq!(open(false, "FEONLY"), (MsgType::Closed, Some(Status::Notbackend.code())));
    assert_eq!(open(false, "BEONLY").0, MsgType::Opened);
    assert_eq!(open(true, "FEONLY").0, MsgType::Opened);
    // An undefined facility is implicit: every role on this node.
    assert_eq!(open(true, "ANYTHING").0, MsgType::Opened);
    assert_eq!(open(false, "ANYTHING").0, MsgType::Opened);
    // A client process on a facility this node is no frontend of fails to open.
    let mut p = spawn(&["probe", "client", "--facility", "BEONLY", "--count", "1"], Some(&node.socket));
    assert_eq!(p.exited(), Some(1));
    let v = node.json(&["show", "facility"]);
    let f: Vec<(String, bool, Value)> = v["facilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["name"].as_str().unwrap().to_string(), f["defined"].as_bool().unwrap(), f["roles"].clone()))
        .collect();
    let roles = |fe, tr, be| serde_json::json!({"frontend": fe, "router": tr, "backend": be});
    assert_eq!(
        f,
        vec![
            ("BEONLY".into(), true, roles(false, false, true)),
            ("FEONLY".into(), true, roles(true, false, false)),
            ("ANYTHING".into(), false, roles(true, true, true)),
        ]
    );
    assert_eq!(v["facilities"][2]["clients"], 1);
    assert_eq!(v["facilities"][2]["servers"], 1);
}

#[test]
fn show_follows_a_transaction_held_between_a_server_process_and_a_client() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), Some("alpha"));
    let server = spawn(&["probe", "server", "--facility", "HOLD", "--hi", "99"], Some(&node.socket));
    server.expect("opened");
    let spare = spawn(&["probe", "server", "--facility", "HOLD", "--hi", "99"], Some(&node.socket));
    spare.expect("opened");
    let other = spawn(&["probe", "server", "--facility", "HOLD", "--lo", "100"], Some(&node.socket));
    other.expect("opened");

    // The client sends and does not accept yet: the transaction is held.
    let rtr = Rtr::connect_socket(&node.socket).unwrap();
    let ch = rtr
        .open_channel(OpenParams { flags: flags::ope::CLIENT, facility: Some("HOLD".into()), ..Default::default() })
        .unwrap();
    assert_eq!(rtr.receive(&Which::List(vec![ch]), Some(WAIT)).unwrap().sb.msgtype, MsgType::Opened);
    let mut msg = 7u32.to_ne_bytes().to_vec();
    msg.extend_from_slice(b"held");
    rtr.send_to_server(ch, 0, &msg).unwrap();
    let tid = rtr.get_tid(ch, 0).unwrap().to_string();
    // Wait (bounded) until a server has it.
    let until = Instant::now() + WAIT;
    let busy = loop {
        let v = node.json(&["show", "server"]);
        if let Some(s) = v["servers"].as_array().unwrap().iter().find(|s| s["state"] == "busy") {
            break s.clone();
        }
        assert!(Instant::now() < until, "no server got the transaction: {v}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let pids = [server.child.id(), spare.child.id()];
    assert!(pids.contains(&(busy["pid"].as_u64().unwrap() as u32)), "{busy}");
    assert_eq!(busy["tid"], tid.as_str());
    assert_eq!(busy["facility"], "HOLD");
    assert_eq!(busy["key_range"], "u32@0 [0..=99]");
    assert_eq!(busy["flags"], serde_json::json!(["concurrent"]));

    let v = node.json(&["show", "partition"]);
    let p = &v["partitions"];
    assert_eq!(p.as_array().unwrap().len(), 2, "{v}");
    assert_eq!(
        (&p[0]["key_range"], &p[0]["state"], &p[0]["servers"], &p[0]["free_servers"]),
        (&Value::from("u32@0 [0..=99]"), &Value::from("active"), &Value::from(2), &Value::from(1))
    );
    assert_eq!((&p[0]["waiting"], &p[0]["in_progress"]), (&Value::from(0), &Value::from(1)));
    assert_eq!((&p[1]["servers"], &p[1]["in_progress"]), (&Value::from(1), &Value::from(0)));
    let table = node.ok(&["show", "partition"]);
    let r = rows(&table, "Facility  Id  Name  State");
    // The grant its key range is active under, and where: the node's own
    // (in-memory) role authority granted it.
    assert_eq!(
        r[0],
        ["HOLD", "1", "1", "active", "2", "1", "0", "1", "yes", "1", "alpha", "u32@0 [0..=99]"],
        "{table}"
    );
    assert!(table.contains("\nRole authority: local"), "{table}");
    assert_eq!(
        (&p[0]["epoch"], &p[0]["holder"], &p[0]["note"]),
        (&Value::from(1), &Value::from("alpha"), &Value::from(""))
    );
    assert_eq!(p[0]["name"], "1", "an unnamed partition is named by its id");

    let v = node.json(&["show", "transaction"]);
    let t = &v["transactions"][0];
    assert_eq!(v["transactions"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(t["tid"], tid.as_str());
    assert_eq!(t["facility"], "HOLD");
    assert_eq!(t["client"]["pid"], std::process::id());
    assert_eq!(t["frontend"], "SENDING");
    assert_eq!(t["router"], serde_json::json!({"state": "SENDING", "branches": 1, "votes": 0}));
    let b = &t["backend"][0];
    assert_eq!(
        (&b["partition"], &b["state"], &b["invocation"]),
        (&Value::from(1), &Value::from("RECEIVING"), &Value::from("ORIGINAL"))
    );
    assert_eq!(b["server"]["connection"], busy["connection"]);
    assert!(t["age_ms"].as_u64().is_some(), "{t}");
    let table = node.ok(&["show", "transaction"]);
    let r = rows(&table, "Tid");
    assert_eq!(r.len(), 1, "{table}");
    assert_eq!(r[0][0], tid);
    assert_eq!(r[0][1], "HOLD");
    assert_eq!(&r[0][5..7], ["SENDING", "SENDING 0/1 voted"]);
    assert!(r[0][7].starts_with("p1 RECEIVING (server "), "{table}");
    let table = node.ok(&["show", "server"]);
    assert_eq!(rows(&table, "Pid").len(), 3, "{table}");

    // The client accepts: the server votes, the transaction commits and,
    // once the server asks for more, is gone from every role.
    rtr.accept_tx(ch, 0, 0).unwrap();
    assert_eq!(rtr.receive(&Which::List(vec![ch]), Some(WAIT)).unwrap().sb.msgtype, MsgType::Accepted);
    let until = Instant::now() + WAIT;
    loop {
        let v = node.json(&["show", "transaction"]);
        if v["transactions"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(Instant::now() < until, "the transaction stayed: {v}");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(node.ok(&["show", "transaction"]).lines().nth(1), Some("(none)"));
}

#[test]
fn definitions_survive_a_restart_and_stop_closes_everything_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::start(dir.path(), Some("alpha"));
    node.ok(&["create", "facility", "KEPT", "--frontend", "alpha", "--router", "alpha,beta", "--backend", "alpha"]);
    let mut server = spawn(&["probe", "server", "--facility", "KEPT"], Some(&node.socket));
    server.expect("opened");
    let pid = node.proc.child.id();
    let out = node.ok(&["stop"]);
    assert_eq!(out.trim(), format!("node {pid} stopped: 1 application connection closed, journal flushed"));
    assert_eq!(node.proc.exited(), Some(0));
    assert!(!dir.path().join("rtr.pid").exists());
    assert!(!dir.path().join("rtr.sock").exists());
    // The server process saw its node go.
    assert_eq!(server.exited(), Some(1));
    let o = node.rtr(&["show", "facility"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("no node answers on"), "{}", o.stderr);

    // Restarted without --name: the kept name and definitions.
    let node = Node::start(dir.path(), None);
    let v = node.json(&["show", "facility"]);
    assert_eq!(v["node"], "alpha");
    assert_eq!(v["facilities"][0]["name"], "KEPT");
    assert_eq!(v["facilities"][0]["routers"], serde_json::json!(["alpha", "beta"]));
    let server = spawn(&["probe", "server", "--facility", "kept"], Some(&node.socket));
    server.expect("opened");
    let client = spawn(&["probe", "client", "--facility", "KEPT", "--count", "3"], Some(&node.socket));
    for _ in 0..3 {
        client.expect("accepted ");
    }
    // A stop without a socket falls back to the pid file.
    let o = rtr(&["stop", "--dir", dir.path().join("nowhere").to_str().unwrap()]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("no node running"), "{}", o.stderr);
}
