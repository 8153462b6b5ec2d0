//! The node daemon as a service: SIGTERM and SIGINT stop it as `rtr stop`
//! does (logged, journal durable, pid file and socket removed, exit 0), a
//! service manager hears READY=1 and STOPPING=1 on NOTIFY_SOCKET, and
//! SIGHUP reopens its log file without stopping it.

use std::io::{BufRead, BufReader};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const RTR: &str = env!("CARGO_BIN_EXE_rtr");
const WAIT: Duration = Duration::from_secs(20);

/// A process killed when dropped (also when a test fails), its standard
/// error read line by line.
struct Proc {
    child: Child,
    err: mpsc::Receiver<String>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// Wait for a standard error line containing `text` (bounded); every
    /// line read on the way is kept in `seen`.
    fn expect_err(&self, text: &str, seen: &mut Vec<String>) -> String {
        let until = Instant::now() + WAIT;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.err.recv_timeout(left) {
                Ok(l) if l.contains(text) => {
                    seen.push(l.clone());
                    return l;
                }
                Ok(l) => seen.push(l),
                Err(_) => panic!("no line with {text:?} within {WAIT:?}; saw {seen:#?}"),
            }
        }
    }

    /// Its exit code, waiting at most `limit`.
    fn exit_within(&mut self, limit: Duration) -> i32 {
        let until = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(Instant::now() < until, "the process did not exit within {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&self, sig: libc::c_int) {
        // SAFETY: a signal to our own child, which is not reaped yet.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, sig) }, 0);
    }
}

fn spawn(args: &[&str], envs: &[(&str, &Path)]) -> Proc {
    let mut cmd = Command::new(RTR);
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let out = child.stderr.take().unwrap();
    let (tx, err) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    Proc { child, err }
}

/// A foreground node on `dir`, told of NOTIFY_SOCKET `notify` if given.
fn start_node(dir: &Path, notify: Option<&Path>, extra: &[&str]) -> Proc {
    let mut args = vec!["start", "--foreground", "--dir", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    let envs: Vec<(&str, &Path)> = notify.map(|n| ("NOTIFY_SOCKET", n)).into_iter().collect();
    spawn(&args, &envs)
}

fn wait_for_socket(socket: &Path) {
    let until = Instant::now() + WAIT;
    while UnixStream::connect(socket).is_err() {
        assert!(Instant::now() < until, "the node did not open {}", socket.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The next notice on the test's NOTIFY_SOCKET.
fn notice(socket: &UnixDatagram) -> String {
    let mut buf = [0u8; 512];
    let n = socket.recv(&mut buf).expect("no notice on NOTIFY_SOCKET within the timeout");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Run `count` transactions through the node (a probe server and client);
/// the ids of those accepted.
fn commit(socket: &Path, fac: &str, count: u32) -> Vec<String> {
    let server = Command::new(RTR)
        .args(["probe", "server", "--facility", fac])
        .env("RTR_NODE_SOCKET", socket)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = Proc { child: server, err: mpsc::channel().1 };
    let mut lines = BufReader::new(server.child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().and_then(Result::ok).as_deref(), Some("opened"));
    let out = Command::new(RTR)
        .args(["probe", "client", "--facility", fac, "--count", &count.to_string()])
        .env("RTR_NODE_SOCKET", socket)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    let tids: Vec<String> = text.lines().filter_map(|l| l.strip_prefix("accepted ")).map(str::to_string).collect();
    assert_eq!(tids.len(), count as usize, "{text}");
    tids
}

fn journal_dump(journal: &Path) -> String {
    let out = Command::new(RTR).args(["journal", "dump"]).arg(journal).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stops_gracefully_on(sig: libc::c_int, name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let node_dir = dir.path().join("node");
    let socket = node_dir.join("rtr.sock");
    let notify_path = dir.path().join("notify");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify.set_read_timeout(Some(WAIT)).unwrap();

    let mut node = start_node(&node_dir, Some(&notify_path), &[]);
    assert_eq!(notice(&notify), "READY=1");
    // Ready means listening: the socket answers at once.
    UnixStream::connect(&socket).expect("READY=1 came before the socket answered");
    assert!(node_dir.join("rtr.pid").exists());
    let tids = commit(&socket, "SIG", 3);

    node.signal(sig);
    let code = node.exit_within(Duration::from_secs(10));
    let mut seen = Vec::new();
    node.expect_err(&format!("received {name}"), &mut seen);
    node.expect_err("stopped", &mut seen);
    assert_eq!(code, 0, "{seen:#?}");
    assert_eq!(notice(&notify), "STOPPING=1");
    assert!(!node_dir.join("rtr.pid").exists(), "pid file left behind");
    assert!(!socket.exists(), "socket left behind");

    // What was committed before the signal is in the journal.
    let dump = journal_dump(&node_dir.join("journal"));
    for tid in &tids {
        assert!(
            dump.lines().any(|l| l.contains(tid.as_str()) && l.contains("Commit")),
            "no commit of {tid} in the journal:\n{dump}"
        );
    }

    // And the node starts again on the same directory, and stops again.
    let mut again = start_node(&node_dir, Some(&notify_path), &[]);
    assert_eq!(notice(&notify), "READY=1");
    again.signal(sig);
    assert_eq!(again.exit_within(Duration::from_secs(10)), 0);
    assert_eq!(notice(&notify), "STOPPING=1");
}

#[test]
fn sigterm_stops_the_node_as_rtr_stop_does() {
    stops_gracefully_on(libc::SIGTERM, "SIGTERM");
}

#[test]
fn sigint_stops_the_node_as_rtr_stop_does() {
    stops_gracefully_on(libc::SIGINT, "SIGINT");
}

#[test]
fn sighup_does_not_stop_a_node_that_logs_to_standard_error() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("rtr.sock");
    let mut node = start_node(dir.path(), None, &[]);
    wait_for_socket(&socket);
    node.signal(libc::SIGHUP);
    let mut seen = Vec::new();
    node.expect_err("received SIGHUP", &mut seen);
    std::thread::sleep(Duration::from_millis(300));
    assert!(node.child.try_wait().unwrap().is_none(), "SIGHUP ended the node: {seen:#?}");
    commit(&socket, "HUP", 1);
    node.signal(libc::SIGTERM);
    assert_eq!(node.exit_within(Duration::from_secs(10)), 0);
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Wait (bounded) until `path` holds `text`.
fn wait_for_text(path: &Path, text: &str) {
    let until = Instant::now() + WAIT;
    while !read(path).contains(text) {
        assert!(Instant::now() < until, "{} never said {text:?}; it holds:\n{}", path.display(), read(path));
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sighup_reopens_the_log_file_after_a_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("rtr.sock");
    let log = dir.path().join("node.log");
    let rotated = dir.path().join("node.log.1");
    let mut node = start_node(dir.path(), None, &["--log-file", log.to_str().unwrap()]);
    wait_for_socket(&socket);
    wait_for_text(&log, "ready on");
    std::fs::rename(&log, &rotated).unwrap();
    node.signal(libc::SIGHUP);
    wait_for_text(&log, "received SIGHUP: reopened its log");
    assert!(node.child.try_wait().unwrap().is_none(), "SIGHUP ended the node");
    node.signal(libc::SIGTERM);
    assert_eq!(node.exit_within(Duration::from_secs(10)), 0);
    // The new file has the rest; the rotated one only what came before.
    assert!(read(&log).contains("received SIGTERM"), "{}", read(&log));
    assert!(!read(&rotated).contains("SIGHUP"), "{}", read(&rotated));
}

/// SIGKILLs a detached node (by its pid file) if a test fails before it
/// stopped.
struct Detached(PathBuf);

impl Drop for Detached {
    fn drop(&mut self) {
        if let Some(pid) = read(&self.0.join("rtr.pid")).trim().parse::<i32>().ok().filter(|p| *p > 0) {
            // SAFETY: a signal to the node process this test started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// Gone, or exited and waiting for a parent (a container's init) to reap it.
fn gone(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    !alive
        || read(Path::new(&format!("/proc/{pid}/stat")))
            .rsplit_once(')')
            .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
}

#[test]
fn sigterm_stops_a_detached_node_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let node_dir = dir.path().join("node");
    let guard = Detached(node_dir.clone());
    let out = Command::new(RTR).args(["start", "--dir"]).arg(&node_dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pid: i32 = read(&node_dir.join("rtr.pid")).trim().parse().unwrap();
    let tids = commit(&node_dir.join("rtr.sock"), "DET", 2);
    // SAFETY: a signal to the node process this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let until = Instant::now() + Duration::from_secs(10);
    while !gone(pid) {
        assert!(Instant::now() < until, "the node did not exit within 10 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = node_dir.join("rtr.log");
    wait_for_text(&log, "stopped");
    assert!(read(&log).contains("received SIGTERM"), "{}", read(&log));
    assert!(!node_dir.join("rtr.pid").exists(), "pid file left behind");
    assert!(!node_dir.join("rtr.sock").exists(), "socket left behind");
    let dump = journal_dump(&node_dir.join("journal"));
    for tid in &tids {
        assert!(dump.lines().any(|l| l.contains(tid.as_str()) && l.contains("Commit")), "{dump}");
    }
    drop(guard);
}
