//! Nodes as separate processes linked over TCP on loopback (`rtr start
//! --foreground`, each with its own directory and port), for the
//! multi-process tests; and the crash workload's checker over them.

#![allow(dead_code)]

use std::net::TcpListener;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{rtr_within, s, spawn_to, testkit_within, Out, Proc};

pub const WAIT: Duration = Duration::from_secs(30);

/// A node started detached (`rtr start --dir DIR`), stopped (then killed,
/// by its pid file) when dropped, so a failing test leaves no node behind.
pub struct Running(pub PathBuf);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = rtr_within(&["stop", "--dir", s(&self.0)], WAIT);
        if let Some(pid) = std::fs::read_to_string(self.0.join("rtr.pid")).ok().and_then(|t| t.trim().parse().ok()) {
            // SAFETY: a signal to the node process this test started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// A free TCP port on loopback for a node to listen on. Taken below the
/// kernel's ephemeral range (32768 and up on Linux): a port from that range,
/// released for the node, can meanwhile become the source port of another
/// node's outgoing connection, and the node would then fail to bind it.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let seed = std::process::id().wrapping_mul(7919);
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = 20_000 + (seed.wrapping_add(n.wrapping_mul(104_729)) % 12_000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

pub struct Node {
    pub proc: Proc,
    pub dir: PathBuf,
    pub socket: PathBuf,
}

impl Node {
    /// `rtr start --foreground` as node `name`, listening on `port`, with
    /// the addresses of the other nodes.
    pub fn start(root: &Path, name: &str, port: u16, peers: &[(&str, u16)], extra: &[&str]) -> Node {
        Node::launch(root, name, port, peers, extra, false)
    }

    /// [`Node::start`] with the node's standard error in `DIR/node.log`
    /// (for a test that reads what the node said).
    pub fn start_logged(root: &Path, name: &str, port: u16, peers: &[(&str, u16)], extra: &[&str]) -> Node {
        Node::launch(root, name, port, peers, extra, true)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("node.log")).unwrap_or_default()
    }

    fn launch(root: &Path, name: &str, port: u16, peers: &[(&str, u16)], extra: &[&str], logged: bool) -> Node {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("rtr.sock");
        let listen = format!("127.0.0.1:{port}");
        let mut args: Vec<String> =
            ["start", "--foreground", "--dir", s(&dir), "--name", name, "--listen", &listen].map(String::from).to_vec();
        for (p, port) in peers {
            args.push("--peer".into());
            args.push(format!("{p}=127.0.0.1:{port}"));
        }
        if !extra.contains(&"--tls-cert") {
            // Plain links on loopback unless the test gives certificates
            // (a node with links and no TLS refuses to start without it).
            args.push("--insecure-links".into());
        }
        args.extend(extra.iter().map(|x| x.to_string()));
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let stderr = if logged {
            std::process::Stdio::from(std::fs::File::create(dir.join("node.log")).unwrap())
        } else {
            std::process::Stdio::inherit()
        };
        let mut proc = spawn_to(&argv, None, stderr);
        let until = Instant::now() + WAIT;
        while UnixStream::connect(&socket).is_err() {
            // A node that stopped says why (in its log when it has one):
            // waiting out WAIT for it says nothing.
            if let Ok(Some(status)) = proc.child.try_wait() {
                let log = std::fs::read_to_string(dir.join("node.log")).unwrap_or_default();
                panic!("node {name} did not start: it stopped ({status}) listening on {listen}\n{log}");
            }
            if Instant::now() >= until {
                let log = std::fs::read_to_string(dir.join("node.log")).unwrap_or_default();
                panic!("node {name} did not start within {WAIT:?} (listening on {listen})\n{log}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Node { proc, dir, socket }
    }

    pub fn rtr(&self, args: &[&str]) -> Out {
        let mut a = args.to_vec();
        a.extend(["--dir", s(&self.dir)]);
        rtr_within(&a, WAIT)
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.rtr(args);
        assert_eq!(o.code, 0, "rtr {args:?}: {o:?}");
        o.stdout
    }

    /// The state of the link to `peer` as `rtr show link --json` gives it:
    /// the node's text, whole.
    pub fn link_state(&self, peer: &str) -> String {
        let v = self.rtr(&["show", "link", "--json"]).json();
        v["links"]
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["node"] == peer))
            .and_then(|r| r["text"].as_str())
            .unwrap_or("absent")
            .to_string()
    }

    pub fn wait_link_up(&self, peer: &str) {
        let until = Instant::now() + WAIT;
        loop {
            let st = self.link_state(peer);
            if st.starts_with("up") {
                return;
            }
            assert!(Instant::now() < until, "link to {peer} not up within {WAIT:?}: {st}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The crash workload's checker over `state`: every transfer ended once,
/// each accepted one applied exactly once, no rejected one applied.
pub fn crash_check(state: &Path) {
    let out = testkit_within(&["crash-check", "--state", s(state)], WAIT);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("crash check: ok"), "{out:?}");
    eprintln!("{}", out.stdout.trim());
}

pub fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map(|t| t.lines().count()).unwrap_or(0)
}

/// SIGSTOP/SIGCONT of a process.
pub fn signal(p: &Proc, sig: i32) {
    // SAFETY: kill(2) on our own child's pid; it touches no memory.
    let rc = unsafe { libc::kill(p.child.id() as i32, sig) };
    assert_eq!(rc, 0);
}

/// Partition states on node `n`, in `rtr show partition` order.
pub fn roles(n: &Node) -> Vec<String> {
    let v = n.rtr(&["show", "partition", "--json"]).json();
    v["partitions"].as_array().unwrap().iter().map(|p| p["state"].as_str().unwrap().to_string()).collect()
}

/// Start (or start again) node `name` of a cluster of nodes named in `all`
/// with their ports.
pub fn start_node(root: &Path, all: &[(&str, u16)], name: &str, extra: &[String], logged: bool) -> Node {
    let port = all.iter().find(|(n, _)| *n == name).map(|(_, p)| *p).expect("a node of the cluster");
    let peers: Vec<(&str, u16)> = all.iter().copied().filter(|(n, _)| *n != name).collect();
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    if logged {
        Node::start_logged(root, name, port, &peers, &extra)
    } else {
        Node::start(root, name, port, &peers, &extra)
    }
}
