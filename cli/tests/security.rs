//! Local security of a node (README: Security): the modes of its files
//! whatever the umask, no symlink followed for its pid file, `rtr stop`
//! never signalling a process that is not the node.
//!
//! Every node is detached and stopped by a guard, also when a test fails;
//! every wait is bounded; other processes started here are killed on drop.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

mod common;

use common::nodes::Running;
use common::{command_within, rtr_command, rtr_within, s, Out};

const WAIT: Duration = Duration::from_secs(30);

/// `rtr args` run under umask 000 (the careless shell the issue tried).
fn rtr_umask0(args: &[&str]) -> Out {
    let mut cmd = rtr_command(args);
    // SAFETY: umask is async-signal-safe and touches no memory.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0);
            Ok(())
        });
    }
    command_within(cmd, WAIT)
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o777
}

/// A process unrelated to rtr, killed when dropped.
struct Bystander(Child);

impl Drop for Bystander {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Bystander {
    fn alive(&mut self) -> bool {
        self.0.try_wait().unwrap().is_none()
    }
}

#[test]
fn under_umask_000_the_node_makes_its_files_with_the_documented_modes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    let out = rtr_umask0(&["start", "--dir", s(&dir), "--name", "alpha"]);
    let _node = Running(dir.clone());
    assert_eq!(out.code, 0, "{out:?}");
    let out = rtr_umask0(&["create", "facility", "bank", "--all-roles", "alpha", "--dir", s(&dir)]);
    assert_eq!(out.code, 0, "{out:?}");
    let journal = dir.join("journal");
    let mut modes = vec![
        ("node directory", mode(&dir), 0o755),
        ("rtr.toml", mode(&dir.join("rtr.toml")), 0o600),
        ("rtr.log", mode(&dir.join("rtr.log")), 0o600),
        ("rtr.pid", mode(&dir.join("rtr.pid")), 0o644),
        ("rtr.sock", mode(&dir.join("rtr.sock")), 0o660),
        ("facilities.conf", mode(&dir.join("facilities.conf")), 0o600),
        ("journal", mode(&journal), 0o700),
    ];
    for e in std::fs::read_dir(&journal).unwrap() {
        let p = e.unwrap().path();
        let want = if p.is_dir() { 0o700 } else { 0o600 };
        modes.push(("a journal file", mode(&p), want));
    }
    let wrong: Vec<String> = modes
        .iter()
        .filter(|(_, got, want)| got != want)
        .map(|(what, got, want)| format!("{what}: {got:o}, not {want:o}"))
        .collect();
    assert!(wrong.is_empty(), "{wrong:?}");
}

#[test]
fn a_symlink_placed_as_the_pid_file_is_refused_and_its_target_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    std::fs::create_dir(&dir).unwrap();
    let target = tmp.path().join("root-only");
    std::fs::write(&target, "precious\n").unwrap();
    std::os::unix::fs::symlink(&target, dir.join("rtr.pid")).unwrap();
    let out = rtr_within(&["start", "--dir", s(&dir), "--name", "alpha"], WAIT);
    let _node = Running(dir.clone());
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("symbolic link") && out.stderr.contains("rtr.pid"), "{out:?}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
    assert!(!dir.join("rtr.sock").exists(), "a node was started: {out:?}");
}

#[test]
fn rtr_stop_does_not_signal_an_unrelated_process_named_by_a_stale_pid_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    std::fs::create_dir(&dir).unwrap();
    let mut sleeper = Bystander(Command::new("sleep").arg("60").spawn().unwrap());
    std::fs::write(dir.join("rtr.pid"), format!("{}\n", sleeper.0.id())).unwrap();
    let out = rtr_within(&["stop", "--dir", s(&dir)], WAIT);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("not the rtr node") && out.stderr.contains("not signalled"), "{out:?}");
    std::thread::sleep(Duration::from_millis(200));
    assert!(sleeper.alive(), "rtr stop killed an unrelated process: {out:?}");
}

#[test]
fn rtr_stop_still_stops_the_real_node_by_its_pid_when_its_socket_is_gone() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    let out = rtr_within(&["start", "--dir", s(&dir), "--name", "alpha"], WAIT);
    let _node = Running(dir.clone());
    assert_eq!(out.code, 0, "{out:?}");
    // Without its socket file, only the pid file leads to the node: the
    // node of this directory is recognised as such, signalled, and stops
    // (its accept loop woken without the socket's path).
    std::fs::remove_file(dir.join("rtr.sock")).unwrap();
    let out = rtr_within(&["stop", "--dir", s(&dir)], WAIT);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("stopped"), "{out:?}");
    let log = std::fs::read_to_string(dir.join("rtr.log")).unwrap();
    assert!(log.contains("received SIGTERM") && log.contains("audit: signal SIGTERM: Stop: done"), "{out:?}\n{log}");
}

/// `rtr args` run as user and group 65534 (nobody), no other groups.
fn rtr_as_nobody(args: &[&str]) -> Out {
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_rtr")]);
    cmd.args(args).env_remove("RTR_NODE_SOCKET");
    command_within(cmd, WAIT)
}

/// A temporary directory another user can reach (a socket inside it too).
fn shared_tmp() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    tmp
}

fn log_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("rtr.log")).unwrap_or_default()
}

/// The log (bounded wait) once it holds `text`.
fn log_with(dir: &Path, text: &str) -> String {
    let until = std::time::Instant::now() + WAIT;
    loop {
        let log = log_of(dir);
        if log.contains(text) {
            return log;
        }
        assert!(std::time::Instant::now() < until, "the log never said {text:?}:\n{log}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

const SOME_TID: &str = "1,2,3,4,5,6,7";

#[test]
fn another_user_may_run_applications_but_not_stop_the_node_or_forget_a_transaction() {
    let tmp = shared_tmp();
    let dir = tmp.path().join("node");
    let out = rtr_within(&["start", "--dir", s(&dir), "--name", "alpha", "--socket-mode", "0666"], WAIT);
    let _node = Running(dir.clone());
    assert_eq!(out.code, 0, "{out:?}");
    let socket = dir.join("rtr.sock");

    // Application level: it connects and runs a transaction (rejected for
    // want of a server, which is the facility's answer, not an access one).
    let app = rtr_as_nobody(&["probe", "client", "--socket", s(&socket), "--facility", "EMPTY", "--count", "1"]);
    assert!(app.stdout.contains("rejected ") && app.stdout.contains("NODSTFND"), "{app:?}");

    // Operator level: refused, with the status code and who it was.
    let stop = rtr_as_nobody(&["stop", "--dir", s(&dir)]);
    assert_ne!(stop.code, 0, "{stop:?}");
    assert!(stop.stderr.contains("INSVPRIV") && stop.stderr.contains("uid 65534"), "{stop:?}");
    let forget = rtr_as_nobody(&["set", "transaction", SOME_TID, "--forget", "--dir", s(&dir)]);
    assert_ne!(forget.code, 0, "{forget:?}");
    assert!(forget.stderr.contains("INSVPRIV"), "{forget:?}");
    // Views are for applications too.
    let show = rtr_as_nobody(&["show", "transaction", "--dir", s(&dir)]);
    assert_eq!(show.code, 0, "{show:?}");

    // The node runs on, and its log says who was refused what.
    let show = rtr_within(&["show", "facility", "--dir", s(&dir)], WAIT);
    assert_eq!(show.code, 0, "the node stopped: {show:?}");
    let log = log_with(&dir, "SetTransaction");
    assert!(log.contains("refused Stop to uid 65534 pid "), "{log}");
    let audits: Vec<&str> = log.lines().filter(|l| l.contains("audit: uid 65534 pid ")).collect();
    assert!(audits.iter().any(|l| l.contains(": Stop: failed: INSVPRIV")), "{log}");
    assert!(audits.iter().any(|l| l.contains("SetTransaction") && l.contains("failed: INSVPRIV")), "{log}");
}

#[test]
fn a_member_of_the_operator_group_may_stop_the_node_and_is_audited() {
    let tmp = shared_tmp();
    let dir = tmp.path().join("node");
    let flags = ["--socket-mode", "0666", "--operator-group", "65534"];
    let mut args = vec!["start", "--dir", s(&dir), "--name", "alpha"];
    args.extend_from_slice(&flags);
    let out = rtr_within(&args, WAIT);
    let _node = Running(dir.clone());
    assert_eq!(out.code, 0, "{out:?}");
    let forget = rtr_as_nobody(&["set", "transaction", SOME_TID, "--forget", "--dir", s(&dir)]);
    // Carried out (the node knows no such transaction: its own answer).
    assert!(!forget.stderr.contains("INSVPRIV"), "{forget:?}");
    let stop = rtr_as_nobody(&["stop", "--dir", s(&dir)]);
    assert_eq!(stop.code, 0, "{stop:?}");
    // The node's process was recognised and waited for (not "node ?").
    assert!(stop.stdout.starts_with("node ") && !stop.stdout.contains("node ?"), "{stop:?}");
    let log = log_with(&dir, ": Stop: done");
    assert!(log.lines().any(|l| l.contains("audit: uid 65534 pid ") && l.contains(": Stop: done")), "{log}");
    assert!(log.lines().any(|l| l.contains("audit: uid 65534 pid ") && l.contains("SetTransaction")), "{log}");
}

#[test]
fn the_socket_takes_its_configured_mode_and_group_and_the_file_keeps_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    let args = ["start", "--dir", s(&dir), "--name", "alpha", "--socket-mode", "0600", "--socket-group", "65534"];
    let out = rtr_within(&args, WAIT);
    let _node = Running(dir.clone());
    assert_eq!(out.code, 0, "{out:?}");
    let sock = dir.join("rtr.sock");
    assert_eq!(mode(&sock), 0o600);
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&sock).unwrap().gid(), 65534);
    let kept = std::fs::read_to_string(dir.join("rtr.toml")).unwrap();
    assert!(kept.contains("socket_mode = \"0600\"") && kept.contains("socket_group = \"65534\""), "{kept}");
    // A mode that would lock the node's own tools out is refused at start.
    let other = tmp.path().join("other");
    let out = rtr_within(&["start", "--dir", s(&other), "--name", "beta", "--socket-mode", "0066"], WAIT);
    let _other = Running(other.clone());
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("socket_mode"), "{out:?}");
}

// ----- hostile input on the node socket and the link port -----

/// A peer that sends a frame header, then one byte every 300 ms: is it
/// closed by the node (bounded wait)? Some(seconds it took) if so.
fn trickle_until_closed<S: std::io::Read + std::io::Write>(mut s: S, set_timeout: impl Fn(&S)) -> Option<f64> {
    use std::io::ErrorKind;
    let start = std::time::Instant::now();
    // A frame of 64 bytes announced; its body never completes in time.
    if s.write_all(&64u32.to_le_bytes()).is_err() {
        return Some(0.0);
    }
    set_timeout(&s);
    let mut buf = [0u8; 256];
    while start.elapsed() < Duration::from_secs(20) {
        if s.write_all(&[0]).is_err() {
            return Some(start.elapsed().as_secs_f64());
        }
        match s.read(&mut buf) {
            Ok(0) => return Some(start.elapsed().as_secs_f64()),
            // A refusal frame before the close.
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return Some(start.elapsed().as_secs_f64()),
        }
    }
    None
}

#[test]
fn a_hello_that_trickles_in_is_timed_out_on_the_socket_and_the_link_port() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    let port = common::nodes::free_port();
    let listen = format!("127.0.0.1:{port}");
    let args =
        ["start", "--dir", s(&dir), "--name", "alpha", "--listen", &listen, "--hello-timeout", "1", "--insecure-links"];
    let out = rtr_within(&args, WAIT);
    let _node = Running(dir.clone());
    assert_eq!(out.code, 0, "{out:?}");
    let unix = std::os::unix::net::UnixStream::connect(dir.join("rtr.sock")).unwrap();
    let took = trickle_until_closed(unix, |s| s.set_read_timeout(Some(Duration::from_millis(300))).unwrap());
    assert!(took.is_some(), "a trickling hello kept its socket connection for 20 s");
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let took = trickle_until_closed(tcp, |s| s.set_read_timeout(Some(Duration::from_millis(300))).unwrap());
    assert!(took.is_some(), "a trickling hello kept its link connection for 20 s");
    let log = log_with(&dir, "sent no hello within 1 s");
    assert!(log.contains("no hello within 1 s; closed"), "{log}");
    // The node serves on.
    assert_eq!(rtr_within(&["show", "link", "--dir", s(&dir)], WAIT).code, 0);
}

#[test]
fn a_frame_header_claiming_4_gb_is_refused_on_the_socket_and_the_link_port() {
    use std::io::{Read, Write};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    let port = common::nodes::free_port();
    let listen = format!("127.0.0.1:{port}");
    let out =
        rtr_within(&["start", "--dir", s(&dir), "--name", "alpha", "--listen", &listen, "--insecure-links"], WAIT);
    let _node = Running(dir.clone());
    assert_eq!(out.code, 0, "{out:?}");
    let mut unix = std::os::unix::net::UnixStream::connect(dir.join("rtr.sock")).unwrap();
    unix.set_read_timeout(Some(WAIT)).unwrap();
    unix.write_all(&u32::MAX.to_le_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = unix.read_to_end(&mut answer);
    assert!(String::from_utf8_lossy(&answer).contains("exceeds the limit"), "{answer:?}");
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    tcp.write_all(&u32::MAX.to_le_bytes()).unwrap();
    let mut rest = Vec::new();
    assert!(tcp.read_to_end(&mut rest).is_ok(), "the link port did not close the connection");
    log_with(&dir, "a link sent a bad hello");
    assert_eq!(rtr_within(&["show", "facility", "--dir", s(&dir)], WAIT).code, 0);
}

#[test]
fn connections_over_the_limit_are_refused_and_room_is_made_as_they_close() {
    use std::io::Read;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    let out = rtr_within(&["start", "--dir", s(&dir), "--name", "alpha", "--max-connections", "3"], WAIT);
    let _node = Running(dir.clone());
    assert_eq!(out.code, 0, "{out:?}");
    let socket = dir.join("rtr.sock");
    // Each welcomed, so the node has counted it (a fixed pause before the
    // next connect was too short once on a loaded machine: the fourth got
    // in before the node had accepted the third).
    let held: Vec<_> = (0..3).map(|_| welcomed(&socket).unwrap()).collect();
    let mut over = std::os::unix::net::UnixStream::connect(&socket).unwrap();
    over.set_read_timeout(Some(WAIT)).unwrap();
    let mut answer = Vec::new();
    let _ = over.read_to_end(&mut answer);
    assert!(String::from_utf8_lossy(&answer).contains("too many connections"), "{answer:?}");
    drop(held);
    // Bounded: the slots free as the node sees the connections end.
    let until = std::time::Instant::now() + WAIT;
    loop {
        let show = rtr_within(&["show", "facility", "--dir", s(&dir)], WAIT);
        if show.code == 0 {
            break;
        }
        assert!(std::time::Instant::now() < until, "no room after the connections closed: {show:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// CPU time (user + system, in clock ticks) process `pid` has used.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (in parentheses): utime is the 14th
    // field of the line, stime the 15th.
    let rest = stat.rsplit_once(')').unwrap().1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn hello_welcomed(socket: &Path) -> Result<(), String> {
    welcomed(socket).map(drop)
}

/// A connection to the node at `socket` that said hello and was welcomed.
fn welcomed(socket: &Path) -> Result<std::os::unix::net::UnixStream, String> {
    use rtr_core::protocol::codec::{self, Frame};
    use std::io::Write;
    let mut s = std::os::unix::net::UnixStream::connect(socket).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
    let hello = Frame::Hello { version: u32::from(codec::VERSION), pid: std::process::id() };
    s.write_all(&codec::encode(&hello)).map_err(|e| e.to_string())?;
    let body = codec::read_frame(&mut s).map_err(|e| e.to_string())?;
    match codec::decode(&body) {
        Ok(Frame::Welcome { .. }) => Ok(s),
        other => Err(format!("{other:?}")),
    }
}

#[test]
fn at_the_descriptor_limit_the_accept_loop_pauses_instead_of_spinning() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    std::fs::create_dir(&dir).unwrap();
    let socket = dir.join("rtr.sock");
    let log = std::fs::File::create(dir.join("node.log")).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rtr"));
    cmd.args(["start", "--foreground", "--dir", s(&dir), "--name", "alpha", "--hello-timeout", "120"]);
    cmd.env_remove("RTR_NODE_SOCKET").stdout(log.try_clone().unwrap()).stderr(log);
    // SAFETY: setrlimit is async-signal-safe and touches only the limit given.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit { rlim_cur: 64, rlim_max: 64 };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let node = Bystander(cmd.spawn().unwrap());
    let pid = node.0.id();
    let until = std::time::Instant::now() + WAIT;
    while hello_welcomed(&socket).is_err() {
        assert!(std::time::Instant::now() < until, "the node did not start:\n{}", log_of_file(&dir));
        std::thread::sleep(Duration::from_millis(50));
    }
    // More connections than the node has descriptors: they wait in the
    // backlog while accept fails with EMFILE.
    let held: Vec<_> = (0..120).filter_map(|_| std::os::unix::net::UnixStream::connect(&socket).ok()).collect();
    assert!(held.len() > 64, "only {} connections made", held.len());
    // Let it reach the limit (its threads take the first connections).
    std::thread::sleep(Duration::from_secs(1));
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_ticks(pid) - before;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    // Generous for a noisy machine: under half of one core (a spinning
    // accept loop takes a whole one).
    assert!(used < hz, "the node used {used} ticks of CPU in 2 s at its descriptor limit (hz {hz})");
    let log = log_of_file(&dir);
    assert!(log.contains("pausing accepts"), "the node never ran out of descriptors:\n{log}");
    drop(held);
    // Once descriptors are free, a new application connects.
    let until = std::time::Instant::now() + WAIT;
    loop {
        match hello_welcomed(&socket) {
            Ok(()) => break,
            Err(e) => assert!(std::time::Instant::now() < until, "no application connects after the flood: {e}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = rtr_within(&["stop", "--dir", s(&dir)], WAIT);
}

fn log_of_file(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("node.log")).unwrap_or_default()
}
