//! Running the `rtr` command from the CLI's tests: to its end, with a
//! bounded wait (killed if it overruns), capturing its output.

#![allow(dead_code)]

pub mod nodes;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}\n--- stdout\n{}--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

/// The `rtr` command.
pub const RTR: &str = env!("CARGO_BIN_EXE_rtr");
/// The test workloads (`crash-worker`, `crash-check`, `crash-remote`),
/// a program of their own that is never installed.
pub const TESTKIT: &str = env!("CARGO_BIN_EXE_rtr-testkit");

/// Runs `rtr args` (never against a daemon named in this test process's
/// environment) and waits at most `wait`.
pub fn rtr_within(args: &[&str], wait: Duration) -> Out {
    run_within(RTR, args, wait)
}

/// [`rtr_within`] for `rtr-testkit args`.
pub fn testkit_within(args: &[&str], wait: Duration) -> Out {
    run_within(TESTKIT, args, wait)
}

/// Runs `exe args` as [`rtr_within`] does.
pub fn run_within(exe: &str, args: &[&str], wait: Duration) -> Out {
    let mut cmd = Command::new(exe);
    cmd.args(args).env_remove("RTR_NODE_SOCKET");
    command_within(cmd, wait)
}

/// `rtr args` as [`rtr_within`] runs it, for a test to change (its umask,
/// user or environment) before [`command_within`] runs it.
pub fn rtr_command(args: &[&str]) -> Command {
    let mut cmd = Command::new(RTR);
    cmd.args(args).env_remove("RTR_NODE_SOCKET");
    cmd
}

/// Run `cmd` to its end and wait at most `wait` (killed if it overruns).
pub fn command_within(mut cmd: Command, wait: Duration) -> Out {
    let exe = cmd.get_program().to_string_lossy().into_owned();
    let args: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("run rtr");
    let mut so = child.stdout.take().expect("stdout");
    let mut se = child.stderr.take().expect("stderr");
    let ho = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = so.read_to_string(&mut s);
        s
    });
    let he = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = se.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + wait;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{exe} {args:?} did not finish within {wait:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Out { code: status.code().unwrap_or(-1), stdout: ho.join().expect("stdout"), stderr: he.join().expect("stderr") }
}

/// A path as a command-line argument.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// How long the helpers below wait for a line or an exit.
pub const PROC_WAIT: Duration = Duration::from_secs(30);

/// A process started by a test, killed when dropped (also when the test
/// fails); its standard output is read line by line.
pub struct Proc {
    pub child: std::process::Child,
    pub lines: std::sync::mpsc::Receiver<String>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// Wait (bounded) for a line starting with `prefix`.
    pub fn expect(&self, prefix: &str) -> String {
        self.wait_line(prefix).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Wait (bounded) for a line starting with `prefix`; the error says
    /// what was awaited (for a test that adds the nodes' logs to it).
    #[allow(dead_code)] // not every test binary that shares this module uses it
    pub fn wait_line(&self, prefix: &str) -> Result<String, String> {
        let until = Instant::now() + PROC_WAIT;
        loop {
            match self.lines.recv_timeout(until.saturating_duration_since(Instant::now())) {
                Ok(l) if l.starts_with(prefix) => return Ok(l),
                Ok(_) => {}
                Err(_) => return Err(format!("no line starting with {prefix:?} within {PROC_WAIT:?}")),
            }
        }
    }

    /// Wait (bounded) for the process to exit on its own.
    pub fn exited(&mut self) -> Option<i32> {
        let until = Instant::now() + PROC_WAIT;
        loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                return s.code();
            }
            assert!(Instant::now() < until, "process {} did not exit within {PROC_WAIT:?}", self.child.id());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Start `rtr args`, against the node daemon at `socket` if given (never
/// against one named in this test process's environment).
pub fn spawn(args: &[&str], socket: Option<&Path>) -> Proc {
    spawn_to(args, socket, Stdio::inherit())
}

/// [`spawn`] for `rtr-testkit args` (the crash workload).
pub fn spawn_testkit(args: &[&str], socket: Option<&Path>) -> Proc {
    spawn_exe(TESTKIT, args, socket, Stdio::inherit())
}

/// [`spawn`] with the process's standard error going to `stderr` (a log
/// file the test reads).
pub fn spawn_to(args: &[&str], socket: Option<&Path>, stderr: Stdio) -> Proc {
    spawn_exe(RTR, args, socket, stderr)
}

/// Start `exe args` as [`spawn_to`] does.
pub fn spawn_exe(exe: &str, args: &[&str], socket: Option<&Path>, stderr: Stdio) -> Proc {
    use std::io::BufRead;
    let mut cmd = Command::new(exe);
    cmd.args(args).stdout(Stdio::piped()).stderr(stderr).env_remove("RTR_NODE_SOCKET");
    if let Some(s) = socket {
        cmd.env("RTR_NODE_SOCKET", s);
    }
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("run {exe}: {e}"));
    let out = child.stdout.take().expect("stdout");
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    Proc { child, lines }
}
