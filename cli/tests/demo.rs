//! `rtr demo` and `rtr bench` run end to end as a user would run them.

use std::process::Command;

fn rtr(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rtr")).args(args).output().expect("run rtr");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn demo_passes_its_checks_with_a_server_failure() {
    let (ok, out) = rtr(&["demo", "--seconds", "1", "--clients", "4"]);
    assert!(ok, "{out}");
    assert!(out.contains("a server of partition 0 died"), "{out}");
    assert!(out.contains("[ok] every transaction ended exactly once"), "{out}");
    assert!(out.contains("[ok] total balance conserved"), "{out}");
    assert!(out.contains("was finished by another server"), "{out}");
    assert!(!out.contains("FAILED"), "{out}");
}

#[test]
fn demo_refuses_bad_arguments() {
    let (ok, out) = rtr(&["demo", "--servers", "1"]);
    assert!(!ok);
    assert!(out.contains("at least 2 servers"), "{out}");
    let (ok, _) = rtr(&["demo", "--accounts", "1", "--no-failure"]);
    assert!(!ok);
}

#[test]
fn bench_prints_a_row_per_client_count() {
    let (ok, out) = rtr(&["bench", "--clients", "1,2", "--seconds", "0.2", "--servers", "2"]);
    assert!(ok, "{out}");
    let rows: Vec<&str> = out.lines().filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit())).collect();
    assert_eq!(rows.len(), 2, "{out}");
    let (ok, _) = rtr(&["bench", "--msg-size", "2"]);
    assert!(!ok);
}
