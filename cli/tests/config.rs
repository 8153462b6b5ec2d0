//! `DIR/rtr.toml`: the settings `rtr start` keeps (a start without flags
//! starts the same node; flags override and are written back), and the
//! errors it prints before anything is made or the node detaches.
//!
//! Every node is detached (`rtr start` as a user runs it) and stopped by a
//! guard, also when a test fails; every wait is bounded.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

mod common;

use common::nodes::{free_port, Running};
use common::{rtr_within, s, Out};

const WAIT: Duration = Duration::from_secs(30);

fn start(dir: &Path, flags: &[&str]) -> (Out, Running) {
    let mut args = vec!["start", "--dir", s(dir)];
    args.extend_from_slice(flags);
    (rtr_within(&args, WAIT), Running(dir.to_path_buf()))
}

fn started(dir: &Path, flags: &[&str]) -> Running {
    let (out, guard) = start(dir, flags);
    assert_eq!(out.code, 0, "{out:?}");
    guard
}

fn ok(args: &[&str]) -> String {
    let out = rtr_within(args, WAIT);
    assert_eq!(out.code, 0, "rtr {args:?}: {out:?}");
    out.stdout
}

/// `rtr show link` until a row says `text` (bounded).
fn wait_link_text(dir: &Path, text: &str) -> String {
    let until = Instant::now() + WAIT;
    loop {
        let shown = ok(&["show", "link", "--dir", s(dir)]);
        if shown.contains(text) {
            return shown;
        }
        assert!(Instant::now() < until, "rtr show link never said {text:?}; last:\n{shown}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn listening(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

#[test]
fn a_start_without_flags_starts_the_node_its_settings_describe() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    let (port, dead) = (free_port(), free_port());
    let listen = format!("127.0.0.1:{port}");
    let peer = format!("zulu=127.0.0.1:{dead}");
    let node = started(
        &dir,
        &["--name", "alpha", "--listen", &listen, "--peer", &peer, "--inactivity", "20", "--insecure-links"],
    );
    ok(&["create", "facility", "F", "--dir", s(&dir), "--frontend", "alpha", "--router", "zulu", "--backend", "zulu"]);
    let address = format!("cannot connect to 127.0.0.1:{dead}");
    wait_link_text(&dir, &address);
    drop(node);
    assert!(!listening(port), "the node still listens after its stop");

    // No flags: the same name, listening address and peer address.
    let _node = started(&dir, &[]);
    assert!(listening(port), "the node started without flags does not listen on {listen}");
    let shown = wait_link_text(&dir, &address);
    assert!(shown.contains("zulu"), "{shown}");
    let facilities = ok(&["show", "facility", "--dir", s(&dir)]);
    assert!(facilities.contains("alpha"), "the node's name is not alpha:\n{facilities}");
    let file = std::fs::read_to_string(dir.join("rtr.toml")).unwrap();
    for line in ["name = \"alpha\"", &format!("listen = \"{listen}\""), "inactivity = 20", "[peers]"] {
        assert!(file.contains(line), "rtr.toml lacks {line:?}:\n{file}");
    }
}

#[test]
fn flags_override_the_file_and_are_written_back() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    let (first, second) = (free_port(), free_port());
    let first_listen = format!("127.0.0.1:{first}");
    drop(started(&dir, &["--name", "alpha", "--listen", &first_listen, "--inactivity", "30", "--insecure-links"]));
    let node = started(&dir, &["--listen", &format!("127.0.0.1:{second}")]);
    assert!(listening(second) && !listening(first), "the --listen flag did not override the file");
    drop(node);
    let file = std::fs::read_to_string(dir.join("rtr.toml")).unwrap();
    assert!(file.contains(&format!("listen = \"127.0.0.1:{second}\"")), "not written back:\n{file}");
    // The settings no flag gave are kept.
    assert!(file.contains("name = \"alpha\"") && file.contains("inactivity = 30"), "{file}");
    let _node = started(&dir, &[]);
    assert!(listening(second), "the written-back address is not used");
}

/// A refused start: exit code 1, the reason on stderr, nothing made.
fn refused(dir: &Path, flags: &[&str], why: &str) -> Out {
    let (out, _guard) = start(dir, flags);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains(why), "stderr does not say {why:?}: {out:?}");
    assert!(!out.stderr.contains("exited at start"), "the real error is not shown: {out:?}");
    assert!(!dir.join("rtr.pid").exists() && !dir.join("journal").exists(), "a node was started: {out:?}");
    out
}

#[test]
fn bad_settings_are_refused_before_anything_is_made() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let in_use = taken.local_addr().unwrap().to_string();
    for (flags, why) in [
        (vec!["--listen", in_use.as_str(), "--insecure-links"], "Address already in use"),
        (vec!["--listen", "no-port-here"], "invalid listen address \"no-port-here\""),
        (vec!["--listen", "127.0.0.1:1"], "links (listen or peers) need TLS"),
        (vec!["--peer", "zulu=127.0.0.1:1"], "or --insecure-links"),
        (vec!["--peer", "zulu=127.0.0.1:1", "--tls-ca", "/nonexistent/ca.pem"], "tls needs all of ca, cert and key"),
        (vec!["--name", "not a name"], "invalid node name \"not a name\""),
        (vec!["--peer", "zulu"], "is not NAME=HOST:PORT"),
        (vec!["--peer", "zulu=host-without-port"], "needs a port"),
        (vec!["--inactivity", "0"], "inactivity must be at least 1 second"),
        (vec!["--authority", "zookeeper:x"], "authority"),
        (vec!["--log-level", "info,=[["], "log level"),
    ] {
        refused(&dir, &flags, why);
        assert!(!dir.exists(), "{flags:?}: the refused start left {}", dir.display());
    }
}

#[test]
fn a_bad_or_unreadable_file_is_refused_with_its_line_and_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    std::fs::create_dir(&dir).unwrap();
    let text = "name = \"alpha\"\nlisen = \"127.0.0.1:1\"\n";
    std::fs::write(dir.join("rtr.toml"), text).unwrap();
    let out = refused(&dir, &[], "unknown field `lisen`");
    assert!(out.stderr.contains("line 2"), "the line is not named: {out:?}");
    // A flag does not hide the bad key, and the file is left as it was.
    refused(&dir, &["--name", "beta"], "unknown field `lisen`");
    assert_eq!(std::fs::read_to_string(dir.join("rtr.toml")).unwrap(), text);

    std::fs::write(dir.join("rtr.toml"), "inactivity = \"soon\"\n").unwrap();
    refused(&dir, &[], "line 1");

    std::fs::remove_file(dir.join("rtr.toml")).unwrap();
    std::fs::create_dir(dir.join("rtr.toml")).unwrap();
    refused(&dir, &[], "cannot read");
    assert!(dir.exists(), "a directory the start did not make was removed");
}

#[test]
fn a_node_that_fails_after_detaching_has_its_error_printed() {
    // The second node of one journal: the checks pass, the node it detaches
    // cannot lock the journal and exits; `rtr start` prints why.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    let _node = started(&dir, &["--name", "alpha"]);
    let other = tmp.path().join("other.sock");
    let (out, _) = (rtr_within(&["start", "--dir", s(&dir), "--socket", s(&other)], WAIT), ());
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("is in use by process"), "{out:?}");
}
