//! A node's metrics (issue 15, item 6): `rtr show metrics [--json]` after
//! known work (exact counts), the Prometheus endpoint scraped over HTTP,
//! link byte counters between two nodes, and `rtr monitor` in a real
//! terminal (tmux).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::nodes::{free_port, Node, WAIT};
use common::{s, spawn};
use serde_json::Value;

fn metrics(node: &Node) -> Value {
    node.rtr(&["show", "metrics", "--json"]).json()
}

/// Run `rtr probe client` to its end; its exit code.
fn client(node: &Node, extra: &[&str]) -> Option<i32> {
    let mut args = vec!["probe", "client"];
    args.extend(extra);
    spawn(&args, Some(&node.socket)).exited()
}

/// Wait (bounded) until `ok` holds for the node's metrics; the last ones.
fn metrics_until(node: &Node, ok: impl Fn(&Value) -> bool) -> Value {
    let until = Instant::now() + WAIT;
    loop {
        let v = metrics(node);
        if ok(&v) {
            return v;
        }
        assert!(Instant::now() < until, "metrics did not reach the expected state: {v}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `GET path` over HTTP/1.1 to `port` on loopback: status line, headers, body.
fn http_get(port: u16, path: &str) -> (String, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\nAccept: text/plain\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no header end: {raw:?}"));
    let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    (status.to_string(), headers.to_string(), body.to_string())
}

/// Parse the Prometheus text format strictly enough for a test: every
/// sample line is `name{labels} value` or `name value`, every metric has
/// HELP and TYPE before its samples. Returns (name with labels, value).
fn parse_prometheus(text: &str) -> Vec<(String, f64)> {
    let mut typed = std::collections::HashSet::new();
    let mut helped = std::collections::HashSet::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            helped.insert(rest.split(' ').next().unwrap().to_string());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut p = rest.split(' ');
            let name = p.next().unwrap().to_string();
            let kind = p.next().unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            typed.insert(name);
            continue;
        }
        assert!(!line.starts_with('#') && !line.is_empty(), "unexpected line {line:?}");
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line:?}"));
        let value: f64 =
            if value == "+Inf" { f64::INFINITY } else { value.parse().unwrap_or_else(|_| panic!("{line}")) };
        let name = match series.split_once('{') {
            Some((name, labels)) => {
                let labels = labels.strip_suffix('}').unwrap_or_else(|| panic!("unclosed labels: {line:?}"));
                for pair in labels.split("\",").filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once("=\"").unwrap_or_else(|| panic!("bad label in {line:?}"));
                    assert!(k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "{line}");
                    assert!(!v.trim_end_matches('"').contains('\n'), "{line}");
                }
                name
            }
            None => series,
        };
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "bad name in {line:?}");
        let base = ["_bucket", "_sum", "_count"].iter().fold(name, |n, s| n.strip_suffix(s).unwrap_or(n));
        assert!(typed.contains(base) || typed.contains(name), "no TYPE before {line:?}");
        assert!(helped.contains(base) || helped.contains(name), "no HELP before {line:?}");
        samples.push((series.to_string(), value));
    }
    samples
}

fn sample(samples: &[(String, f64)], series: &str) -> f64 {
    samples.iter().find(|(s, _)| s == series).map(|(_, v)| *v).unwrap_or_else(|| panic!("no {series}"))
}

#[test]
fn counters_move_with_the_work_and_the_endpoint_serves_them() {
    let root = tempfile::tempdir().unwrap();
    let mport = free_port();
    let maddr = format!("127.0.0.1:{mport}");
    let node = Node::start(root.path(), "alpha", free_port(), &[], &["--metrics-listen", &maddr]);

    // Before any work: zeros, and the journal is there.
    let v = metrics(&node);
    assert_eq!(v["node"], "alpha");
    assert_eq!(v["transactions"]["started"], 0, "{v}");
    assert!(v["journal"]["bytes_capacity"].as_u64().unwrap() > 0, "{v}");
    let syncs_before = v["journal"]["syncs"].as_u64().unwrap();

    // Five commits, then two transactions for a key no server serves.
    let server = spawn(&["probe", "server", "--hi", "99"], Some(&node.socket));
    server.expect("opened");
    assert_eq!(client(&node, &["--count", "5", "--key", "7"]), Some(0));
    assert_eq!(client(&node, &["--count", "2", "--key", "500"]), Some(1));

    let v = metrics_until(&node, |v| v["transactions"]["started"] == 7);
    let t = &v["transactions"];
    assert_eq!((t["committed"].as_u64(), t["rejected"].as_u64()), (Some(5), Some(2)), "{v}");
    assert_eq!(t["rejected_by_status"], serde_json::json!({"RTR_STS_NODSTFND": 2}), "{v}");
    let lat = &t["commit_latency_us"];
    assert_eq!(lat["count"], 5, "{v}");
    assert!(lat["p50"].as_u64().unwrap() <= lat["p99"].as_u64().unwrap(), "{v}");
    assert!(lat["p99"].as_u64().unwrap() <= lat["max"].as_u64().unwrap(), "{v}");
    let buckets: u64 = lat["buckets"].as_array().unwrap().iter().map(|b| b["count"].as_u64().unwrap()).sum();
    assert_eq!(buckets, 5, "{v}");
    // Every commit was made durable: at least one more sync each (group
    // commits may share one only between concurrent transactions).
    let j = &v["journal"];
    assert!(j["syncs"].as_u64().unwrap() >= syncs_before + 5, "{v}");
    assert_eq!(j["fsync_us"]["count"], j["syncs"], "{v}");
    assert!(j["bytes_used"].as_u64().unwrap() > 0, "{v}");
    assert!(j["group_commits"].as_u64().unwrap() >= 5, "{v}");
    // The partition, idle again; the server still connected.
    let parts = v["partitions"].as_array().unwrap();
    assert_eq!(parts.len(), 1, "{v}");
    assert_eq!((parts[0]["in_flight"].as_u64(), parts[0]["queue"].as_u64()), (Some(0), Some(0)), "{v}");
    assert_eq!(parts[0]["state"], "active");
    assert!(v["library"]["connections"].as_u64().unwrap() >= 1, "{v}");
    assert!(v["library"]["requests"].as_u64().unwrap() >= 7 * 2, "{v}");
    assert_eq!(v["links"], serde_json::json!([]), "no peers");

    // The text form says the same.
    let text = node.ok(&["show", "metrics"]);
    assert!(text.contains("Transactions: 7 started, 5 committed, 2 rejected"), "{text}");
    assert!(text.contains("rejected RTR_STS_NODSTFND: 2"), "{text}");

    // Prometheus, over HTTP.
    let (status, headers, body) = http_get(mport, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK", "{headers}");
    assert!(headers.contains("Content-Type: text/plain; version=0.0.4"), "{headers}");
    let samples = parse_prometheus(&body);
    assert_eq!(sample(&samples, "rtr_transactions_started_total"), 7.0);
    assert_eq!(sample(&samples, "rtr_transactions_committed_total"), 5.0);
    assert_eq!(sample(&samples, "rtr_transactions_rejected_total{status=\"RTR_STS_NODSTFND\"}"), 2.0);
    assert_eq!(sample(&samples, "rtr_commit_latency_seconds_count"), 5.0);
    assert_eq!(sample(&samples, "rtr_commit_latency_seconds_bucket{le=\"+Inf\"}"), 5.0);
    assert_eq!(sample(&samples, "rtr_node_info{node=\"alpha\"}"), 1.0);
    assert!(sample(&samples, "rtr_journal_bytes_used") > 0.0);
    let part = format!("{{facility=\"PROBE\",partition=\"{}\"}}", parts[0]["id"]);
    assert_eq!(sample(&samples, &format!("rtr_partition_queue{part}")), 0.0);
    assert_eq!(sample(&samples, &format!("rtr_partition_in_flight{part}")), 0.0);
    // Elsewhere on the endpoint: not found; a POST: not allowed.
    assert_eq!(http_get(mport, "/nothing").0, "HTTP/1.1 404 Not Found");
    let mut s = TcpStream::connect(("127.0.0.1", mport)).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(b"POST /metrics HTTP/1.1\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
    // A client that connects and says nothing does not stop the others.
    let _silent = TcpStream::connect(("127.0.0.1", mport)).unwrap();
    let (status, _, _) = http_get(mport, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK");
    // Kept in rtr.toml for the next start.
    let toml = std::fs::read_to_string(node.dir.join("rtr.toml")).unwrap();
    assert!(toml.contains(&format!("metrics_listen = \"{maddr}\"")), "{toml}");
}

#[test]
fn a_metrics_address_in_use_fails_the_start_with_its_reason() {
    let root = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = root.path().join("n");
    let out = common::rtr_within(&["start", "--dir", s(&dir), "--metrics-listen", &addr], WAIT);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("metrics endpoint: cannot listen on"), "{out:?}");
    assert!(!dir.exists(), "a failed start leaves nothing");
    let out = common::rtr_within(&["start", "--dir", s(&dir), "--metrics-listen", "nowhere"], WAIT);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("invalid metrics address"), "{out:?}");
}

#[test]
fn link_counters_grow_with_the_traffic_between_two_nodes() {
    let root = tempfile::tempdir().unwrap();
    let (fe_p, be_p) = (free_port(), free_port());
    let fe = Node::start(root.path(), "fe", fe_p, &[("be", be_p)], &[]);
    let be = Node::start(root.path(), "be", be_p, &[("fe", fe_p)], &[]);
    for n in [&fe, &be] {
        n.ok(&["create", "facility", "probe", "--frontend", "fe", "--router", "fe", "--backend", "be"]);
    }
    fe.wait_link_up("be");
    let link = |v: &Value| v["links"].as_array().unwrap().iter().find(|l| l["node"] == "be").cloned().unwrap();
    let before = link(&metrics(&fe));
    assert_eq!(before["up"], true, "{before}");
    let server = spawn(&["probe", "server"], Some(&be.socket));
    server.expect("opened");
    assert_eq!(client(&fe, &["--count", "3"]), Some(0));
    let v = metrics_until(&fe, |v| v["transactions"]["committed"] == 3);
    assert_eq!(v["transactions"]["started"], 3, "{v}");
    let after = link(&v);
    for k in ["bytes_in", "bytes_out"] {
        assert!(after[k].as_u64().unwrap() > before[k].as_u64().unwrap(), "{k}: {before} -> {after}");
    }
    // The backend's side: its partition, and the frontend's link.
    let bv = metrics(&be);
    assert_eq!(bv["transactions"]["started"], 0, "its clients started none: {bv}");
    assert_eq!(bv["partitions"].as_array().unwrap().len(), 1, "{bv}");
    let back = bv["links"].as_array().unwrap().iter().find(|l| l["node"] == "fe").cloned().unwrap();
    assert!(back["bytes_in"].as_u64().unwrap() > 0 && back["bytes_out"].as_u64().unwrap() > 0, "{back}");
}

// ---------------------------------------------------------------- monitor

/// A tmux server of this test's own (its own socket name), killed when dropped.
struct Tmux(String);

impl Tmux {
    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-L").arg(&self.0);
        c
    }

    fn run(&self, args: &[&str]) -> String {
        let out = self.cmd().args(args).output().expect("run tmux");
        assert!(out.status.success(), "tmux {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "mon"])
    }

    /// Wait (bounded) until the pane shows every one of `texts`.
    fn wait_for(&self, texts: &[&str]) -> String {
        let until = Instant::now() + WAIT;
        loop {
            let screen = self.screen();
            if texts.iter().all(|t| screen.contains(t)) {
                return screen;
            }
            assert!(Instant::now() < until, "the pane did not show {texts:?}:\n{screen}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").output();
    }
}

/// tmux, or `None` with a message saying why the test cannot run. CI
/// (`.ci/run`) installs tmux and sets RTR_TEST_REQUIRE_TMUX, so there a
/// missing tmux fails the test instead.
fn tmux_available() -> bool {
    if Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success()) {
        return true;
    }
    assert!(
        std::env::var_os("RTR_TEST_REQUIRE_TMUX").is_none(),
        "tmux is required (RTR_TEST_REQUIRE_TMUX is set) but is not installed"
    );
    eprintln!("SKIPPED: `rtr monitor` in a terminal needs tmux, which is not installed (apt-get install tmux)");
    false
}

/// The terminal modes that `rtr monitor` changes, as `stty -a` shows them.
const MODES: &str = "stty -a | tr ' ;' '\\n\\n' | grep -x -e -icanon -e icanon -e -echo -e echo -e -isig -e isig \
                     | sort | tr '\\n' ' '";

fn monitor_in_tmux(dir: &Path, quit_key: &str) {
    let tmux = Tmux(format!("rtr-test-{}-{}", std::process::id(), quit_key.replace('-', "")));
    let rtr = env!("CARGO_BIN_EXE_rtr");
    let script = format!(
        "echo before: $({MODES}); '{rtr}' monitor --dir '{}' --interval-ms 200; echo \"monitor exited $?\"; \
         echo after: $({MODES}); sleep 60",
        s(dir)
    );
    tmux.run(&["new-session", "-d", "-s", "mon", "-x", "120", "-y", "40", "sh", "-c", &script]);
    let screen = tmux.wait_for(&["RTR MONITOR", "node alpha", "TRANSACTIONS", "COMMIT LATENCY", "PARTITIONS", "LINKS"]);
    // The alternate screen: the lines printed before it are hidden.
    assert!(!screen.contains("before:"), "{screen}");
    // Refreshed: the rates appear from the second view on (none since).
    let until = Instant::now() + WAIT;
    while !tmux.screen().lines().any(|l| l.split_whitespace().eq(["committed", "0", "3"])) {
        assert!(Instant::now() < until, "no second view:\n{}", tmux.screen());
        std::thread::sleep(Duration::from_millis(50));
    }
    tmux.run(&["send-keys", "-t", "mon", quit_key]);
    let screen = tmux.wait_for(&["monitor exited 0", "after:"]);
    // The terminal is as it was before.
    let modes =
        |tag: &str| screen.lines().find_map(|l| l.strip_prefix(tag)).map(|m| m.trim().to_string()).unwrap_or_default();
    assert_eq!(modes("before:"), modes("after:"), "{screen}");
    assert!(modes("after:").contains("icanon") && !modes("after:").contains("-icanon"), "{screen}");
    assert!(!screen.contains("RTR MONITOR"), "the view is gone with its screen:\n{screen}");
}

#[test]
fn monitor_shows_the_node_live_and_quits_on_q_or_ctrl_c_restoring_the_terminal() {
    if !tmux_available() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let node = Node::start(root.path(), "alpha", free_port(), &[], &[]);
    let server = spawn(&["probe", "server"], Some(&node.socket));
    server.expect("opened");
    assert_eq!(client(&node, &["--count", "3"]), Some(0));
    monitor_in_tmux(&node.dir, "q");
    monitor_in_tmux(&node.dir, "C-c");
}

#[test]
fn monitor_without_a_terminal_prints_views_and_a_missing_node_is_an_error() {
    let root = tempfile::tempdir().unwrap();
    let node = Node::start(root.path(), "alpha", free_port(), &[], &[]);
    let out = node.rtr(&["monitor", "--count", "2", "--interval-ms", "100"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout.matches("RTR MONITOR").count(), 2, "{out:?}");
    let out = common::rtr_within(&["monitor", "--dir", s(&root.path().join("none")), "--count", "1"], WAIT);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("no node answers on"), "{out:?}");
}
