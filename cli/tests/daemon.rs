//! The node daemon with applications as separate processes: clients and
//! servers in their own processes reach one node over its Unix socket;
//! killed processes and bad input on the socket do not stop it.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Kills the process when dropped (also when a test fails).
struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// Wait for a line starting with `prefix` (bounded).
    fn expect(&self, prefix: &str) -> String {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.starts_with(prefix) => return l,
                Ok(_) => {}
                Err(_) => panic!("no line starting with {prefix:?} within 20 s"),
            }
        }
    }

    /// Every line until the process exits (and its output is read to the end).
    fn rest(mut self) -> (Vec<String>, i32) {
        let status = self.child.wait().unwrap();
        let mut lines = Vec::new();
        // The reader thread ends at end of output, which closes the channel.
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(20)) {
            lines.push(l);
        }
        (lines, status.code().unwrap_or(-1))
    }
}

fn spawn(args: &[&str], socket: &Path) -> Proc {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rtr"))
        .args(args)
        .env("RTR_NODE_SOCKET", socket)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let out: ChildStdout = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    Proc { child, lines }
}

struct Node {
    _proc: Proc,
    socket: PathBuf,
}

fn start_node(dir: &Path) -> Node {
    let socket = dir.join("rtr.sock");
    let mut p = spawn(&["start", "--foreground", "--dir", dir.to_str().unwrap()], &socket);
    p.child.stdout.take();
    let until = Instant::now() + Duration::from_secs(20);
    while UnixStream::connect(&socket).is_err() {
        assert!(Instant::now() < until, "the node did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Node { _proc: p, socket }
}

fn client(node: &Node, fac: &str, count: u64) -> (Vec<String>, i32) {
    spawn(&["probe", "client", "--facility", fac, "--count", &count.to_string()], &node.socket).rest()
}

#[test]
fn clients_and_servers_in_separate_processes_share_one_node() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_node(dir.path());
    let server = spawn(&["probe", "server", "--facility", "SEP"], &node.socket);
    server.expect("opened");
    let (lines, code) = client(&node, "SEP", 50);
    assert_eq!(code, 0, "{lines:?}");
    let accepted: Vec<_> = lines.iter().filter(|l| l.starts_with("accepted ")).collect();
    assert_eq!(accepted.len(), 50, "{lines:?}");
    // The server committed each of them.
    for a in &accepted {
        let tid = a.trim_start_matches("accepted ");
        assert_eq!(server.expect("committed "), format!("committed {tid}"));
    }
}

#[test]
fn a_killed_server_process_has_its_transaction_replayed_to_another() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_node(dir.path());
    // The first server dies abruptly while holding its fourth transaction.
    let dying = spawn(&["probe", "server", "--facility", "KILL", "--exit-after", "3"], &node.socket);
    dying.expect("opened");
    let survivor = spawn(&["probe", "server", "--facility", "KILL"], &node.socket);
    survivor.expect("opened");
    let (lines, code) = client(&node, "KILL", 20);
    assert_eq!(code, 0, "{lines:?}");
    assert_eq!(lines.iter().filter(|l| l.starts_with("accepted ")).count(), 20, "{lines:?}");
    let (dlines, dcode) = dying.rest();
    assert_eq!(dcode, 3, "{dlines:?}");
}

#[test]
fn a_killed_client_process_rejects_its_transaction_and_the_node_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_node(dir.path());
    let server = spawn(&["probe", "server", "--facility", "CK"], &node.socket);
    server.expect("opened");
    let mut slow = spawn(&["probe", "client", "--facility", "CK", "--count", "1000", "--pause-ms", "5"], &node.socket);
    slow.expect("accepted ");
    // SIGKILL: the node notices the closed socket.
    slow.child.kill().unwrap();
    drop(slow);
    let (lines, code) = client(&node, "CK", 10);
    assert_eq!(code, 0, "{lines:?}");
    assert_eq!(lines.iter().filter(|l| l.starts_with("accepted ")).count(), 10);
}

#[test]
fn garbage_on_the_socket_closes_only_that_connection() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_node(dir.path());
    let server = spawn(&["probe", "server", "--facility", "BAD"], &node.socket);
    server.expect("opened");
    for junk in [&b"\x00\x00\x00\x00"[..], b"\xff\xff\xff\xff", b"\x05\x00\x00\x00\x09\x01abc", b"hello there"] {
        let mut s = UnixStream::connect(&node.socket).unwrap();
        let _ = s.write_all(junk);
        drop(s);
    }
    // A well-formed hello followed by a corrupt request.
    // (Frame version byte, then kind; the hello carries the version again.)
    let v = rtr_core::protocol::codec::VERSION;
    let mut s = UnixStream::connect(&node.socket).unwrap();
    s.write_all(&[10, 0, 0, 0, v, 1, v, 0, 0, 0, 0, 0, 0, 0]).unwrap();
    s.write_all(&[3, 0, 0, 0, v, 10, 99]).unwrap();
    drop(s);
    let (lines, code) = client(&node, "BAD", 5);
    assert_eq!(code, 0, "{lines:?}");
    assert_eq!(lines.iter().filter(|l| l.starts_with("accepted ")).count(), 5);
}

#[test]
fn frames_split_across_writes_or_packed_together_reach_the_node_whole() {
    // The node reads application sockets in its own event loop: a frame
    // may arrive in pieces, several may arrive in one read, and a
    // connection may stop in the middle of one.
    use rtr_core::keyseg::{KeySegment, KeyType};
    use rtr_core::protocol::codec::{self, Frame};
    use rtr_core::protocol::{Delivery, Request, Role};
    let dir = tempfile::tempdir().unwrap();
    let node = start_node(dir.path());
    let mut s = UnixStream::connect(&node.socket).unwrap();
    s.write_all(&codec::encode(&Frame::Hello { version: u32::from(codec::VERSION), pid: 1 })).unwrap();
    let welcome = codec::decode(&codec::read_frame(&mut s).unwrap()).unwrap();
    assert!(matches!(welcome, Frame::Welcome { .. }), "{welcome:?}");
    let seg = KeySegment::new(0, KeyType::Unsigned, 4, 0, None, None).unwrap();
    let range = rtr_core::keyseg::KeyRange::new(vec![seg]).unwrap();
    let open = |chan: u32, role: Role| Request::Open {
        chan,
        role,
        facility: "SPLIT".into(),
        flags: if role == Role::Server { rtr_core::flags::ope::SERVER } else { rtr_core::flags::ope::CLIENT },
        range: if role == Role::Server { range.clone() } else { Default::default() },
    };
    // One frame byte by byte, with pauses.
    let first = codec::encode(&Frame::Request(open(1, Role::Server)));
    for b in &first {
        s.write_all(std::slice::from_ref(b)).unwrap();
        std::thread::sleep(Duration::from_micros(200));
    }
    // Two frames in one write.
    let mut two = codec::encode(&Frame::Request(open(2, Role::Server)));
    two.extend(codec::encode(&Frame::Request(open(3, Role::Client))));
    s.write_all(&two).unwrap();
    let mut opened = Vec::new();
    while opened.len() < 3 {
        match codec::decode(&codec::read_frame(&mut s).unwrap()).unwrap() {
            Frame::Delivery(Delivery { chan, msgtype: rtr_core::MsgType::Opened, .. }) => opened.push(chan),
            Frame::Delivery(_) => {}
            other => panic!("{other:?}"),
        }
    }
    opened.sort();
    assert_eq!(opened, [1, 2, 3]);
    // Half a frame, then the connection ends: only that connection goes.
    let mut t = UnixStream::connect(&node.socket).unwrap();
    t.write_all(&codec::encode(&Frame::Hello { version: u32::from(codec::VERSION), pid: 2 })).unwrap();
    let _ = codec::read_frame(&mut t).unwrap();
    let f = codec::encode(&Frame::Request(open(1, Role::Client)));
    t.write_all(&f[..f.len() / 2]).unwrap();
    drop(t);
    let server = spawn(&["probe", "server", "--facility", "SPLIT2"], &node.socket);
    server.expect("opened");
    let (lines, code) = client(&node, "SPLIT2", 3);
    assert_eq!(code, 0, "{lines:?}");
    assert_eq!(lines.iter().filter(|l| l.starts_with("accepted ")).count(), 3);
}
