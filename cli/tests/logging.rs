//! The node daemon's log: timestamped lines with levels, filtered by
//! `--log-level` or RTR_LOG, facility changes logged, and a dead peer's
//! failures logged once and then now and then, not once per retry, and
//! once more when the peer is reached.
//!
//! Every node is detached and stopped by a guard, also when a test fails;
//! every wait is bounded.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::nodes::{free_port, Running};
use common::{rtr_within, s};

const WAIT: Duration = Duration::from_secs(30);

impl Running {
    fn log(&self) -> String {
        std::fs::read_to_string(self.0.join("rtr.log")).unwrap_or_default()
    }

    /// Wait (bounded) until the log has a line containing `text`.
    fn wait_log(&self, text: &str) -> String {
        let until = Instant::now() + WAIT;
        loop {
            let log = self.log();
            if log.contains(text) {
                return log;
            }
            assert!(Instant::now() < until, "the log never said {text:?}:\n{log}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// `rtr start --dir DIR FLAGS` with `env` set.
fn start(dir: &Path, flags: &[&str], env: &[(&str, &str)]) -> Running {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rtr"));
    // Plain links on loopback (these tests are about the log).
    cmd.args(["start", "--dir", s(dir), "--insecure-links"])
        .args(flags)
        .env_remove("RTR_LOG")
        .env_remove("RTR_NODE_SOCKET");
    cmd.envs(env.iter().copied()).stdin(Stdio::null());
    let guard = Running(dir.to_path_buf());
    // `rtr start` returns once the node is ready (it waits at most 15 s).
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    guard
}

fn ok(args: &[&str]) {
    let out = rtr_within(args, WAIT);
    assert_eq!(out.code, 0, "rtr {args:?}: {out:?}");
}

fn define(dir: &Path) {
    ok(&["create", "facility", "F", "--dir", s(dir), "--frontend", "alpha", "--router", "zulu", "--backend", "zulu"]);
}

/// A log line: `2026-01-02T03:04:05.678901Z  WARN target: text`.
fn level_of(line: &str) -> &str {
    let mut words = line.split_whitespace();
    let stamp = words.next().unwrap_or("");
    assert!(stamp.len() > 20 && stamp.ends_with('Z') && stamp.contains('T'), "no timestamp: {line:?}");
    words.next().unwrap_or("")
}

#[test]
fn the_log_level_filters_the_daemon_log_and_lines_carry_time_and_level() {
    let tmp = tempfile::tempdir().unwrap();
    let dead = format!("zulu=127.0.0.1:{}", free_port());
    // Default (info): the facility change is logged, at INFO.
    let dir = tmp.path().join("info");
    let node = start(&dir, &["--name", "alpha", "--peer", &dead], &[]);
    define(&dir);
    let log = node.wait_log("link to zulu");
    let created = log.lines().find(|l| l.contains("facility F created")).unwrap_or_else(|| panic!("{log}"));
    assert_eq!(level_of(created), "INFO", "{created}");
    let down = log.lines().find(|l| l.contains("link to zulu")).unwrap();
    assert_eq!(level_of(down), "WARN", "{down}");
    drop(node);

    // --log-level warn and RTR_LOG=warn: the warning, and no INFO line.
    for (name, flags, env) in
        [("flag", vec!["--log-level", "warn"], vec![]), ("env", vec![], vec![("RTR_LOG", "warn")])]
    {
        let dir = tmp.path().join(name);
        let mut all = vec!["--name", "alpha", "--peer", &dead];
        all.extend_from_slice(&flags);
        let node = start(&dir, &all, &env);
        define(&dir);
        let log = node.wait_log("link to zulu");
        for line in log.lines() {
            assert_eq!(level_of(line), "WARN", "{name}: a line below warn: {line}\n{log}");
        }
        assert!(!log.contains("facility F created"), "{name}: {log}");
        // A flag is kept in rtr.toml; the environment is not.
        let file = std::fs::read_to_string(dir.join("rtr.toml")).unwrap();
        let kept = if name == "flag" { "log_level = \"warn\"" } else { "log_level = \"info\"" };
        assert!(file.contains(kept), "{name}: {file}");
    }
}

#[test]
fn a_dead_peer_is_logged_once_then_now_and_then_and_once_when_reached() {
    let tmp = tempfile::tempdir().unwrap();
    let zulu_port = free_port();
    let dir = tmp.path().join("alpha");
    let node = start(&dir, &["--name", "alpha", "--peer", &format!("zulu=127.0.0.1:{zulu_port}")], &[]);
    define(&dir);
    node.wait_log("link to zulu");
    // The dialler retries after 0.1, 0.2, 0.4 ... s: about six attempts in
    // these 4 s, each of them a log line before.
    std::thread::sleep(Duration::from_secs(4));
    let log = node.log();
    let about: Vec<&str> = log.lines().filter(|l| l.contains("link to zulu")).collect();
    let first: Vec<&&str> = about.iter().filter(|l| l.contains("link to zulu: down")).collect();
    let still: Vec<&&str> = about.iter().filter(|l| l.contains("still failing")).collect();
    assert_eq!(first.len(), 1, "the failure is not logged once:\n{log}");
    assert!(!still.is_empty() && still.len() <= 4, "not a few 'still failing' lines:\n{log}");
    assert_eq!(first.len() + still.len(), about.len(), "{log}");

    // zulu comes up: alpha says once that it reached it.
    let zdir = tmp.path().join("zulu");
    let _zulu = start(&zdir, &["--name", "zulu", "--listen", &format!("127.0.0.1:{zulu_port}")], &[]);
    define(&zdir);
    let log = node.wait_log("link to zulu: reached after");
    assert_eq!(log.matches("reached after").count(), 1, "{log}");
    node.wait_log("link to zulu up");
}
