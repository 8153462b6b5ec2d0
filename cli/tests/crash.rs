//! Kill -9 during load, restart, check: the journal's promise end to end.
//!
//! A journaled bank workload (`rtr-testkit crash-worker`) is killed with SIGKILL at
//! varying moments several times in a row; each restart recovers the journal
//! left by the previous run. A final run only recovers (servers open, the
//! committed work still owed to them is replayed), then `rtr-testkit crash-check`
//! verifies that every transfer a client saw accepted was applied exactly
//! once on both partitions, and that no rejected transfer was applied.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills the child if the test fails before it does.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The test workloads' program (`crash-worker`, `crash-check`), never installed.
fn testkit() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rtr-testkit"))
}

#[test]
fn kill_9_during_load_loses_nothing_accepted_and_applies_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    let state = dir.path().join("state");
    let args = |c: &mut Command| {
        c.arg("--journal").arg(&journal).arg("--state").arg(&state);
    };
    // Deterministic kill schedule (ms after start), varied so kills land in
    // different phases of transactions.
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for round in 0..5 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let after = 250 + x % 600;
        let mut c = testkit();
        c.arg("crash-worker");
        args(&mut c);
        let child = c.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        let mut g = Guard(child);
        std::thread::sleep(Duration::from_millis(after));
        if let Some(status) = g.0.try_wait().unwrap() {
            let out = g.0.wait_with_output_lossy();
            panic!("round {round}: the worker exited early ({status}): {out}");
        }
        // SIGKILL: no chance to flush or close anything.
        g.0.kill().unwrap();
        g.0.wait().unwrap();
        eprintln!("round {round}: killed after {after} ms");
    }
    let start = Instant::now();
    let mut c = testkit();
    c.arg("crash-worker").arg("--recover-only");
    args(&mut c);
    let out = c.output().unwrap();
    assert!(out.status.success(), "recovery run failed: {}", String::from_utf8_lossy(&out.stderr));
    eprintln!("{} ({:?})", String::from_utf8_lossy(&out.stdout).trim(), start.elapsed());
    let out = testkit().arg("crash-check").arg("--state").arg(&state).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    eprintln!("{text}");
    assert!(out.status.success(), "{text}");
    // Progress was made, so the check is not vacuous.
    let accepted: usize =
        text.split_whitespace().skip_while(|w| *w != "accepted").nth(1).and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(accepted > 50, "too little work to check: {text}");
}

trait Lossy {
    fn wait_with_output_lossy(&mut self) -> String;
}

impl Lossy for Child {
    fn wait_with_output_lossy(&mut self) -> String {
        use std::io::Read;
        let mut s = String::new();
        if let Some(e) = self.stderr.as_mut() {
            let _ = e.read_to_string(&mut s);
        }
        s
    }
}
