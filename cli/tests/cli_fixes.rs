//! The command as an operator meets it: `rtr probe` needs a node and says
//! so, fails when its transactions fail, and takes `--socket`; statuses are
//! printed by name; a reader that goes away (`| head`) ends a command
//! quietly, leaving no scratch journal behind; bad counts are refused; the
//! help names the environment variables.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{rtr_within, s, spawn, Out};

const WAIT: Duration = Duration::from_secs(60);

fn rtr(args: &[&str]) -> Out {
    rtr_within(args, WAIT)
}

/// A node daemon in `dir` (named `alpha`), killed at the end of the test.
fn start_node(dir: &Path) -> (common::Proc, std::path::PathBuf) {
    let socket = dir.join("rtr.sock");
    // --insecure-links: a definition below names another node.
    let proc = spawn(&["start", "--foreground", "--dir", s(dir), "--name", "alpha", "--insecure-links"], None);
    let until = Instant::now() + WAIT;
    while UnixStream::connect(&socket).is_err() {
        assert!(Instant::now() < until, "the node did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (proc, socket)
}

#[test]
fn probe_without_a_node_refuses_instead_of_running_an_embedded_one() {
    let tmp = tempfile::tempdir().unwrap();
    // Neither --socket nor RTR_NODE_SOCKET (rtr_within removes it).
    let o = rtr(&["probe", "client", "--count", "1"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("--socket") && o.stderr.contains("RTR_NODE_SOCKET"), "{o:?}");
    assert!(!o.stdout.contains("opened") && !o.stdout.contains("rejected"), "{o:?}");
    assert!(!tmp.path().join("rtr-journal").exists());
    // A socket nobody listens on: an error naming it, not a fallback.
    let nowhere = tmp.path().join("none.sock");
    let o = rtr(&["probe", "server", "--socket", s(&nowhere)]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("cannot reach the node daemon at") && o.stderr.contains("none.sock"), "{o:?}");
}

#[test]
fn probe_client_fails_when_its_transactions_fail_and_names_the_status() {
    let dir = tempfile::tempdir().unwrap();
    let (_node, socket) = start_node(dir.path());
    // No server for the key: every transaction is rejected.
    let o = rtr(&["probe", "client", "--socket", s(&socket), "--facility", "EMPTY", "--count", "3"]);
    assert_eq!(o.code, 1, "{o:?}");
    let rejected: Vec<&str> = o.stdout.lines().filter(|l| l.starts_with("rejected ")).collect();
    assert_eq!(rejected.len(), 3, "{o:?}");
    assert!(rejected.iter().all(|l| l.ends_with(" RTR_STS_NODSTFND")), "{o:?}");
    assert!(o.stderr.contains("3 of 3 transactions rejected"), "{o:?}");

    // With a server (both through --socket, no environment): exit 0.
    let server = spawn(&["probe", "server", "--socket", s(&socket), "--facility", "FULL"], None);
    server.expect("opened");
    let o = rtr(&["probe", "client", "--socket", s(&socket), "--facility", "FULL", "--count", "3"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stdout.lines().filter(|l| l.starts_with("accepted ")).count(), 3, "{o:?}");
}

#[test]
fn a_refused_open_is_reported_by_status_name() {
    let dir = tempfile::tempdir().unwrap();
    let (_node, socket) = start_node(dir.path());
    let o = rtr(&[
        "create",
        "facility",
        "BEONLY",
        "--frontend",
        "beta",
        "--router",
        "beta",
        "--backend",
        "alpha",
        "--dir",
        s(dir.path()),
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    let o = rtr(&["probe", "client", "--socket", s(&socket), "--facility", "BEONLY", "--count", "1"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("channel open failed: rtr_mt_closed: RTR_STS_NOTFRONTEND ("), "{o:?}");
    assert!(!o.stderr.contains("Some(") && !o.stderr.contains("Closed "), "{o:?}");
}

/// Runs `rtr args` with its own temporary directory (TMPDIR), reads the
/// first line of its stdout and closes the pipe. The command must end by
/// SIGPIPE (or exit 0 if it had finished), never panic, and leave nothing
/// in its temporary directory.
fn reader_goes_away(args: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rtr"))
        .args(args)
        .env("TMPDIR", tmp.path())
        .env_remove("RTR_NODE_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert!(!first.is_empty(), "rtr {args:?} printed nothing");
    // The read end is closed here (the BufReader is gone).
    let mut err = String::new();
    let mut stderr = child.stderr.take().unwrap();
    let until = Instant::now() + WAIT;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            panic!("rtr {args:?} still running {WAIT:?} after its reader went away");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    stderr.read_to_string(&mut err).unwrap();
    assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "rtr {args:?}: {status}\n{err}");
    assert!(status.signal() == Some(libc::SIGPIPE) || status.success(), "rtr {args:?}: {status}\n{err}");
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "rtr {args:?} left {left:?} in its temporary directory");
}

#[test]
fn demo_into_a_closed_pipe_ends_quietly_and_cleans_up() {
    reader_goes_away(&["demo", "--seconds", "1", "--clients", "2", "--servers", "2"]);
}

#[test]
fn bench_into_a_closed_pipe_ends_quietly_and_cleans_up() {
    reader_goes_away(&["bench", "--clients", "1", "--seconds", "0.3", "--servers", "2"]);
}

#[test]
fn other_commands_into_a_closed_pipe_end_quietly() {
    // A line per seed (`--all`), each run cut short: the write after the
    // reader went away comes within a second or two, not after twenty whole
    // runs of a debug build (which took more than `WAIT` on a loaded
    // machine: the test failed while simulator batches ran beside it).
    reader_goes_away(&["simulate", "--seeds", "20", "--all", "--max-steps", "20000"]);
    reader_goes_away(&["--help"]);
    let dir = tempfile::tempdir().unwrap();
    let (_node, _socket) = start_node(dir.path());
    reader_goes_away(&["show", "facility", "--dir", s(dir.path())]);
}

#[test]
fn bench_refuses_a_client_count_of_zero() {
    for clients in ["0", "1,0", "0,8"] {
        let o = rtr(&["bench", "--clients", clients, "--seconds", "0.1"]);
        assert_eq!(o.code, 2, "--clients {clients}: {o:?}");
        assert!(o.stderr.contains("--clients"), "{o:?}");
        assert!(!o.stdout.contains("tx/s"), "it measured: {o:?}");
    }
}

#[test]
fn help_texts_name_the_environment_variables() {
    let top = rtr(&["--help"]);
    assert_eq!(top.code, 0, "{top:?}");
    assert!(top.stdout.contains("RTR_NODE_SOCKET") && top.stdout.contains("RTR_JOURNAL_DIR"), "{top:?}");
    for cmd in [&["probe", "client", "--help"][..], &["probe", "server", "--help"], &["start", "--help"]] {
        let o = rtr(cmd);
        assert_eq!(o.code, 0, "{o:?}");
        assert!(o.stdout.contains("RTR_NODE_SOCKET"), "rtr {cmd:?}: {o:?}");
    }
    for cmd in [&["demo", "--help"][..], &["bench", "--help"]] {
        let o = rtr(cmd);
        assert!(o.stdout.contains("RTR_JOURNAL_DIR"), "rtr {cmd:?}: {o:?}");
    }
}

/// Issue 16: `rtr bench --shadow` measures linked mode unshadowed and
/// shadowed (a backend at a second site, every server a shadow server) in
/// the same run, then the catch-up rate; with --no-journal it says why it
/// cannot (the backlog is journaled).
#[test]
fn bench_shadow_measures_the_shadowed_cost_and_the_catch_up_rate() {
    let o = rtr(&["bench", "--shadow", "--clients", "2", "--seconds", "0.3", "--servers", "2"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("linked mode") && o.stdout.contains("shadow mode"), "{o:?}");
    let rows: Vec<&str> = o.stdout.lines().filter(|l| l.split_whitespace().next() == Some("2")).collect();
    assert_eq!(rows.len(), 3, "embedded, linked and shadow rows: {o:?}");
    let catch_up = o.stdout.lines().find(|l| l.starts_with("shadow catch-up:")).expect("no catch-up line");
    assert!(catch_up.contains("commits remembered") && catch_up.contains("transactions/s"), "{catch_up}");
    let o = rtr(&["bench", "--shadow", "--no-journal", "--clients", "1", "--seconds", "0.1"]);
    assert_ne!(o.code, 0, "{o:?}");
    assert!(o.stderr.contains("--shadow needs the journal"), "{o:?}");
}

/// Issue 18: the benchmark says what each transaction costs the kernel on
/// each side (and which counters those are), and the daemon's memory per
/// idle connection and per transaction in flight.
#[test]
fn bench_reports_costs_per_transaction_and_daemon_memory() {
    let o = rtr(&["bench", "--daemon", "--clients", "1", "--seconds", "0.3", "--servers", "2"]);
    assert_eq!(o.code, 0, "{o:?}");
    for part in [
        "app sys",
        "app csw",
        "node sys",
        "node csw",
        "app cpu",
        "node cpu",
        "syscr+syscw",
        "context switches",
        "schedstat",
    ] {
        assert!(o.stdout.contains(part), "no {part:?}: {o:?}");
    }
    let mem = o.stdout.lines().find(|l| l.contains("per idle application connection")).expect("no memory line");
    assert!(mem.contains("KiB per transaction in flight"), "{mem}");
    // Both modes' rows carry the six cost columns.
    let rows: Vec<&str> = o.stdout.lines().filter(|l| l.split_whitespace().next() == Some("1")).collect();
    assert_eq!(rows.len(), 2, "{o:?}");
    for r in &rows {
        assert_eq!(r.split_whitespace().count(), 12, "{r}");
    }
    // The system calls are real in every mode, socket calls included. With
    // one client nothing batches: a durable transaction costs the embedded
    // node at least its fdatasync; in daemon mode each side at least writes
    // and reads its socket once (the application: the client's send and the
    // read of its outcome; the node: the request's read and a delivery's
    // send), which /proc's syscr/syscw alone did not show for the
    // application (it read 0).
    let sys = |r: &str| -> (f64, f64) {
        let f: Vec<f64> = r.split_whitespace().map(|x| x.parse().unwrap_or(f64::NAN)).collect();
        (f[6], f[8])
    };
    let (_, node) = sys(rows[0]);
    assert!(node >= 1.0, "embedded: node sys {node} per transaction: {}", rows[0]);
    let (app, node) = sys(rows[1]);
    assert!(app >= 2.0 && node >= 2.0, "daemon: app sys {app}, node sys {node} per transaction: {}", rows[1]);
    // Both sides spend CPU on every transaction in both modes (a column
    // reading 0 would mean the threads were not found, as before).
    for r in &rows {
        let f: Vec<f64> = r.split_whitespace().map(|x| x.parse().unwrap_or(f64::NAN)).collect();
        assert!(f[10] > 0.0 && f[11] > 0.0, "app cpu {}, node cpu {} us per transaction: {r}", f[10], f[11]);
    }
}
