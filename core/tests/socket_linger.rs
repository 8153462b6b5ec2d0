//! Who polls for an outcome instead of sleeping (`crate::linger`): a
//! client of the embedded node does, a client of a daemon connection read
//! by its own receivers (leader/follower) does not: its outcome is read by
//! the leader, another thread of the application, which the poll would
//! take CPU from (docs/daemon-path.md). Alone in its test binary: the
//! count of lingers is per process.

mod common;

use std::os::unix::net::UnixListener;
use std::thread;
use std::time::Duration;

use common::*;
use rtr_core::flags;
use rtr_core::linger;
use rtr_core::runtime::EmbeddedNode;
use rtr_core::syscalls::Side;
use rtr_core::{EmbeddedConfig, MsgType, Rtr, Which};

const BOUND: Duration = Duration::from_secs(10);
const CLIENTS: u32 = 4;
const TXS: u32 = 60;

/// One server answering every transaction after a short pause (so that
/// clients wait for their outcome, as they do for a journal sync), and
/// `CLIENTS` client threads sharing `clients`, each running `TXS`
/// accepted transactions. Returns the application's lingers meanwhile.
fn run(servers: &Rtr, clients: &Rtr, facility: &str) -> u64 {
    let s = open_ok(servers, server_params(facility, 0, 10_000, 0));
    let srv = servers.clone();
    let server = thread::spawn(move || {
        let mut outcomes = 0;
        while outcomes < CLIENTS * TXS {
            let m = srv.receive(&Which::List(vec![s]), Some(BOUND)).expect("server receive");
            match m.sb.msgtype {
                MsgType::Msg1 => thread::sleep(Duration::from_micros(300)),
                MsgType::Accepted => outcomes += 1,
                _ => {}
            }
        }
    });
    let before = linger::started(Side::App);
    let mut handles = Vec::new();
    for i in 0..CLIENTS {
        let c = open_ok(clients, client_params(facility));
        let rtr = clients.clone();
        handles.push(thread::spawn(move || {
            for n in 0..TXS {
                rtr.send_to_server(c, flags::sen::ACCEPT, &msg(i * 100 + n % 100, b"linger")).expect("send");
                let m = rtr.receive(&Which::List(vec![c]), Some(BOUND)).expect("client receive");
                assert_eq!(m.sb.msgtype, MsgType::Accepted);
            }
        }));
    }
    for h in handles {
        h.join().unwrap();
    }
    let lingers = linger::started(Side::App) - before;
    server.join().unwrap();
    lingers
}

#[test]
fn daemon_followers_sleep_while_embedded_clients_poll() {
    // Embedded: the clients poll for their outcomes (the control: it shows
    // the count sees lingers).
    let node = EmbeddedNode::start_with(EmbeddedConfig::default()).unwrap();
    let (servers, clients) = (Rtr::connect(&node).unwrap(), Rtr::connect(&node).unwrap());
    let embedded = run(&servers, &clients, "LGE");
    assert!(embedded > 0, "embedded clients never lingered");
    drop((servers, clients));

    // Daemon: the same, through the socket, read by the receivers.
    let dir = tempfile::tempdir().unwrap();
    let node = EmbeddedNode::start_daemon(EmbeddedConfig::default()).unwrap();
    let socket = dir.path().join("rtr.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    thread::spawn(move || rtr_core::transport::unix::serve(listener, node));
    let (servers, clients) = (Rtr::connect_socket(&socket).unwrap(), Rtr::connect_socket(&socket).unwrap());
    let daemon = run(&servers, &clients, "LGD");
    assert_eq!(daemon, 0, "daemon clients lingered {daemon} times (embedded: {embedded})");
}
