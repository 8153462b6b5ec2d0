//! `rtr set partition` and `rtr set transaction` against a node daemon.

mod common;

use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{rtr_within, s};

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(args: &[&str], socket: &std::path::Path) -> Kill {
    Kill(
        Command::new(env!("CARGO_BIN_EXE_rtr"))
            .args(args)
            .env("RTR_NODE_SOCKET", socket)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn rtr"),
    )
}

fn rtr(args: &[&str]) -> common::Out {
    rtr_within(args, Duration::from_secs(30))
}

#[test]
fn suspend_holds_new_transactions_until_resume() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("node");
    let socket = dir.join("rtr.sock");
    let _node = spawn(&["start", "--foreground", "--dir", s(&dir)], &socket);
    let until = Instant::now() + Duration::from_secs(20);
    while UnixStream::connect(&socket).is_err() {
        assert!(Instant::now() < until, "the node did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let _server = spawn(&["probe", "server", "--facility", "SUSP"], &socket);
    let until = Instant::now() + Duration::from_secs(20);
    let id = loop {
        let o = rtr(&["show", "partition", "--dir", s(&dir), "--json"]);
        if let Some(id) = o.json()["partitions"][0]["id"].as_u64() {
            break id;
        }
        assert!(Instant::now() < until, "no partition appeared: {o:?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let part = format!("SUSP:{id}");
    let o = rtr(&["set", "partition", &part, "--suspend", "--dir", s(&dir)]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("suspended"), "{o:?}");
    let o = rtr(&["show", "partition", "--dir", s(&dir), "--json"]);
    assert_eq!(o.json()["partitions"][0]["state"], "suspended", "{o:?}");
    // A client's transaction waits while the partition is suspended...
    let mut client = Kill(
        Command::new(env!("CARGO_BIN_EXE_rtr"))
            .args(["probe", "client", "--facility", "SUSP", "--count", "1"])
            .env("RTR_NODE_SOCKET", &socket)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(client.0.try_wait().unwrap().is_none(), "the transaction finished while suspended");
    // ... and completes once it is resumed.
    let o = rtr(&["set", "partition", &part, "--resume", "--dir", s(&dir)]);
    assert_eq!(o.code, 0, "{o:?}");
    let until = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(st) = client.0.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < until, "the client did not finish after the resume");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());
    let mut out = String::new();
    std::io::Read::read_to_string(client.0.stdout.as_mut().unwrap(), &mut out).unwrap();
    assert!(out.contains("accepted "), "{out}");
    // Refusals and bad arguments.
    let o = rtr(&["set", "partition", "SUSP:999", "--suspend", "--dir", s(&dir)]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("NOSUCHPRT"), "{o:?}");
    let o = rtr(&["set", "partition", &part, "--retry-limit", "0", "--dir", s(&dir), "--json"]);
    assert_eq!(o.json()["code"], "INVRETRY", "{o:?}");
    let o = rtr(&["set", "transaction", "1,2,3,4,5,6,7", "--forget", "--dir", s(&dir)]);
    assert!(o.stderr.contains("NOSUCHTX"), "{o:?}");
    let o = rtr(&["set", "transaction", "nonsense", "--forget", "--dir", s(&dir)]);
    assert!(o.stderr.contains("is not a tid"), "{o:?}");
}
