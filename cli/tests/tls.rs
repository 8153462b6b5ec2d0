//! Mutual TLS on node links (issue 17), with nodes as separate processes on
//! loopback and certificates made by `rtr cert`: a cluster serves over TLS;
//! a node without a certificate, with one of another CA, or with one for
//! another name is refused with the reason in `rtr show link` while the
//! cluster keeps serving; a man in the middle that changes one byte breaks
//! the link, which is dialled again, and nothing is lost or doubled.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::nodes::{free_port, lines, Node, WAIT};
use common::{rtr_within, s, spawn_testkit, testkit_within};
use rtr_core::protocol::peer::{self, FacilityClaim, PeerFrame, PEER_VERSION};
use rtr_core::transport::tls::TlsSetup;

/// `rtr cert ca` in `dir`, then `rtr cert node` for each name.
fn certs(dir: &Path, names: &[&str]) -> PathBuf {
    let out = rtr_within(&["cert", "ca", "--out", s(dir)], WAIT);
    assert_eq!(out.code, 0, "{out:?}");
    for n in names {
        let out = rtr_within(&["cert", "node", n, "--ca", s(dir), "--out", s(dir)], WAIT);
        assert_eq!(out.code, 0, "{out:?}");
    }
    dir.to_path_buf()
}

/// The `rtr start` flags of node `name` with the certificates in `dir`.
fn tls_flags(dir: &Path, name: &str) -> Vec<String> {
    vec![
        "--tls-ca".into(),
        s(&dir.join("ca.pem")).into(),
        "--tls-cert".into(),
        s(&dir.join(format!("{name}.pem"))).into(),
        "--tls-key".into(),
        s(&dir.join(format!("{name}.key"))).into(),
    ]
}

fn start_tls(root: &Path, certs: &Path, name: &str, port: u16, peers: &[(&str, u16)], more: &[&str]) -> Node {
    let mut flags = tls_flags(certs, name);
    flags.extend(more.iter().map(|m| m.to_string()));
    let f: Vec<&str> = flags.iter().map(String::as_str).collect();
    Node::start_logged(root, name, port, peers, &f)
}

/// Wait until `n`'s link to `peer` shows `text`; the state then.
fn wait_state(n: &Node, peer: &str, text: &str) -> String {
    let until = Instant::now() + WAIT;
    loop {
        let st = n.link_state(peer);
        if st.contains(text) {
            return st;
        }
        assert!(Instant::now() < until, "link to {peer} never said {text:?}: {st}\n{}", n.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

const FACILITY: [&str; 9] =
    ["create", "facility", "crash", "--frontend", "fe,fx,zz", "--router", "tr", "--backend", "be"];

/// `count` transfers from one client on `fe` to the servers on `be`: all
/// accepted.
fn serve(fe: &Node, be: &Node, count: usize, state: &Path) {
    let before = lines(&state.join("client-accepted.log"));
    let n = count.to_string();
    let mut clients =
        spawn_testkit(&["crash-remote", "--clients", "1", "--count", &n, "--state", s(state)], Some(&fe.socket));
    clients.expect("clients done");
    let _ = clients.child.wait();
    assert_eq!(lines(&state.join("client-accepted.log")) - before, count, "{}", be.log());
}

#[test]
fn a_tls_cluster_serves_and_refuses_nodes_without_a_valid_certificate() {
    let root = tempfile::tempdir().unwrap();
    let ca = certs(&root.path().join("ca"), &["fe", "tr", "be", "fy"]);
    let other_ca = certs(&root.path().join("other-ca"), &["fx"]);
    let (fe_p, tr_p, be_p, fx_p, zz_p) = (free_port(), free_port(), free_port(), free_port(), free_port());
    let peers = [("fe", fe_p), ("tr", tr_p), ("be", be_p), ("fx", fx_p), ("zz", zz_p)];
    let others = |me: &str| peers.iter().copied().filter(|(n, _)| *n != me).collect::<Vec<_>>();
    let fe = start_tls(root.path(), &ca, "fe", fe_p, &others("fe"), &[]);
    let tr = start_tls(root.path(), &ca, "tr", tr_p, &others("tr"), &[]);
    let be = start_tls(root.path(), &ca, "be", be_p, &others("be"), &[]);
    for n in [&fe, &tr, &be] {
        n.ok(&FACILITY);
    }
    fe.wait_link_up("tr");
    be.wait_link_up("tr");
    // Every link says it is TLS, in the text and in --json.
    let v = tr.rtr(&["show", "link", "--json"]).json();
    for r in v["links"].as_array().unwrap().iter().filter(|r| r["state"] == "up") {
        assert_eq!(r["security"], "tls", "{r}");
        assert!(r["text"].as_str().unwrap().contains(", tls, "), "{r}");
    }
    let state = be.dir.join("state");
    let servers = spawn_testkit(&["crash-remote", "--servers", "--state", s(&state)], Some(&be.socket));
    servers.expect("servers open");
    serve(&fe, &be, 20, &state);

    // 1. fx without a certificate (plain links): refused, and told why.
    {
        let fx = Node::start_logged(&root.path().join("plain"), "fx", fx_p, &others("fx"), &[]);
        fx.ok(&FACILITY);
        let st = wait_state(&fx, "tr", "TLSREQUIRED");
        assert!(st.contains("accepts TLS links only"), "{st}");
        assert!(tr.log().contains("accepts TLS links only"), "{}", tr.log());
        // tr names it too, as a claim.
        let st = wait_state(&tr, "fx", "TLSREQUIRED");
        assert!(st.contains("unverified"), "{st}");
    }
    // 2. fx with a certificate of another CA: its TLS handshake with tr
    //    fails on tr's certificate (unknown issuer), and tr refuses fx's.
    {
        let fx = start_tls(&root.path().join("other"), &other_ca, "fx", fx_p, &others("fx"), &[]);
        fx.ok(&FACILITY);
        let st = wait_state(&fx, "tr", "invalid peer certificate");
        assert!(st.contains("TLS: invalid peer certificate: UnknownIssuer"), "{st}");
    }
    // 2b. fx trusting this cluster's CA, with a certificate it made itself
    //     (another CA): tr refuses the certificate and names fx, as its claim.
    {
        let flags = [
            "--tls-ca".to_string(),
            s(&ca.join("ca.pem")).to_string(),
            "--tls-cert".into(),
            s(&other_ca.join("fx.pem")).into(),
            "--tls-key".into(),
            s(&other_ca.join("fx.key")).into(),
        ];
        let f: Vec<&str> = flags.iter().map(String::as_str).collect();
        let fx = Node::start_logged(&root.path().join("forged"), "fx", fx_p, &others("fx"), &f);
        fx.ok(&FACILITY);
        let st = wait_state(&tr, "fx", "not signed by this cluster's CA");
        assert!(st.contains("invalid peer certificate: UnknownIssuer") && st.contains("unverified"), "{st}");
        // fx hears that its certificate was refused.
        wait_state(&fx, "tr", "alert");
    }
    // 3. A certificate of this CA for fy, used to claim to be fx: the TLS
    //    handshake passes, the hello is refused for the name.
    let fy = TlsSetup::load("fy", &ca.join("ca.pem"), &ca.join("fy.pem"), &ca.join("fy.key")).unwrap();
    let answer = {
        let sock = TcpStream::connect(("127.0.0.1", tr_p)).unwrap();
        sock.set_read_timeout(Some(WAIT)).unwrap();
        let mut tls = rustls::StreamOwned::new(fy.dial("tr").unwrap(), sock);
        let claims = vec![FacilityClaim {
            name: "CRASH".into(),
            frontends: vec!["fe".into(), "fx".into(), "zz".into()],
            routers: vec!["tr".into()],
            backends: vec!["be".into()],
        }];
        let hello = PeerFrame::Hello {
            version: u32::from(PEER_VERSION),
            from: "fx".into(),
            to: "tr".into(),
            node_id: 0x7777,
            facilities: claims,
        };
        tls.write_all(&peer::encode(&hello)).unwrap();
        let body = rtr_core::protocol::codec::read_frame_max(&mut tls, peer::MAX_PEER_FRAME).unwrap();
        peer::decode(&body).unwrap()
    };
    match answer {
        PeerFrame::Refuse { code, reason } => {
            assert_eq!(code, "CERTNAME", "{reason}");
            // Nothing of tr's definitions in what the peer is told.
            assert!(!reason.contains("crash") && !reason.contains("CRASH"), "{reason}");
        }
        other => panic!("not refused: {other:?}"),
    }
    let st = wait_state(&tr, "fx", "CERTNAME");
    assert!(st.contains("does not name node fx"), "{st}");
    // 4. A node answering for zz (tr dials zz) with fy's certificate: tr
    //    refuses it for the name.
    let listener = TcpListener::bind(("127.0.0.1", zz_p)).unwrap();
    let fake = std::thread::spawn(move || {
        for _ in 0..2 {
            let Ok((sock, _)) = listener.accept() else { return };
            let _ = sock.set_read_timeout(Some(Duration::from_secs(5)));
            let mut tls = rustls::StreamOwned::new(fy.accept().unwrap(), sock);
            let mut b = [0u8; 64];
            let _ = tls.read(&mut b); // the handshake, until tr's alert
        }
    });
    let st = wait_state(&tr, "zz", "invalid peer certificate");
    assert!(st.contains("NotValidForName") || st.contains("not valid for name"), "{st}");
    let _ = fake.join();

    // The cluster served throughout and still does.
    assert!(fe.link_state("tr").starts_with("up") && be.link_state("tr").starts_with("up"));
    serve(&fe, &be, 20, &state);
    std::thread::sleep(Duration::from_millis(300));
    drop(servers);
    let out = testkit_within(&["crash-check", "--state", s(&state)], WAIT);
    assert!(out.code == 0 && out.stdout.contains("crash check: ok"), "{out:?}");
}

/// The nodes' logs on the test's standard error if it fails.
struct LogsOnFailure<'a>(Vec<&'a Node>);

impl Drop for LogsOnFailure<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for n in &self.0 {
                eprintln!("---- {}:\n{}", n.dir.display(), n.log());
            }
        }
    }
}

/// The proxy tests' facility: `crash` over fe, tr and be (fe reaches tr
/// through the proxy), both links to tr up, and be's servers open. Returns
/// the crash workload's state file and the servers' process.
fn crash_facility_through_proxy(fe: &Node, tr: &Node, be: &Node) -> (PathBuf, common::Proc) {
    for n in [fe, tr, be] {
        n.ok(&["create", "facility", "crash", "--frontend", "fe", "--router", "tr", "--backend", "be"]);
    }
    fe.wait_link_up("tr");
    be.wait_link_up("tr");
    let state = be.dir.join("state");
    let servers = spawn_testkit(&["crash-remote", "--servers", "--state", s(&state)], Some(&be.socket));
    servers.expect("servers open");
    (state, servers)
}

/// A TCP proxy from `listen` to `to` that flips one byte of the client's
/// stream at offset `at` in each of its first `bad` connections. Counts
/// the connections, and those whose byte was flipped (a connection that
/// ends before carrying `at` bytes is not: the last of the `bad` ones may
/// carry the end of the test's traffic).
fn flipping_proxy(listen: u16, to: u16, at: usize, bad: usize) -> (Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let conns = Arc::new(AtomicUsize::new(0));
    let flipped = Arc::new(AtomicUsize::new(0));
    let l = TcpListener::bind(("127.0.0.1", listen)).unwrap();
    let (counted, flips) = (conns.clone(), flipped.clone());
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(client) = c else { return };
            let Ok(server) = TcpStream::connect(("127.0.0.1", to)) else { continue };
            let n = counted.fetch_add(1, Ordering::SeqCst);
            let flip = (n < bad).then_some(at);
            let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let flips = flips.clone();
            std::thread::spawn(move || pump(client, server, flip, Some(&flips)));
            std::thread::spawn(move || pump(s2, c2, None, None));
        }
    });
    (conns, flipped)
}

fn pump(mut from: TcpStream, mut to: TcpStream, flip: Option<usize>, flips: Option<&AtomicUsize>) {
    let mut buf = [0u8; 16 << 10];
    let mut seen = 0usize;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(at) = flip {
            if at >= seen && at < seen + n {
                buf[at - seen] ^= 0x20;
                if let Some(f) = flips {
                    f.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
        seen += n;
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
    let _ = from.shutdown(std::net::Shutdown::Both);
}

#[test]
fn a_man_in_the_middle_changing_a_byte_breaks_the_link_and_corrupts_nothing() {
    let root = tempfile::tempdir().unwrap();
    let ca = certs(&root.path().join("ca"), &["fe", "tr", "be"]);
    let (fe_p, tr_p, be_p, proxy_p) = (free_port(), free_port(), free_port(), free_port());
    // fe reaches tr through the proxy; be directly.
    let fe = start_tls(root.path(), &ca, "fe", fe_p, &[("tr", proxy_p), ("be", be_p)], &[]);
    let tr = start_tls(root.path(), &ca, "tr", tr_p, &[("fe", fe_p), ("be", be_p)], &[]);
    let be = start_tls(root.path(), &ca, "be", be_p, &[("fe", fe_p), ("tr", tr_p)], &[]);
    let _logs = LogsOnFailure(vec![&fe, &tr, &be]);
    // Past the TLS handshake and the hello: in the transactions' records.
    let (conns, flipped) = flipping_proxy(proxy_p, tr_p, 6000, 3);
    let (state, servers) = crash_facility_through_proxy(&fe, &tr, &be);
    // With a start_tx timeout: a transaction caught by a break may be
    // rejected (the brief's rule: it commits once or is rejected); without
    // one, 1 run in about 50 stalled after a break: when the changed byte
    // is a TLS record's length, the link waits for the receiver's
    // inactivity timer (60 s here; see
    // a_changed_tls_record_length_holds_the_link_until_the_inactivity_timer).
    let mut clients = spawn_testkit(
        &["crash-remote", "--clients", "2", "--count", "100", "--timeout-ms", "10000", "--state", s(&state)],
        Some(&fe.socket),
    );
    clients.expect("clients done");
    let _ = clients.child.wait();
    let (accepted, rejected) = (lines(&state.join("client-accepted.log")), lines(&state.join("client-rejected.log")));
    assert_eq!(accepted + rejected, 200, "every transaction ended once");
    eprintln!(
        "through a byte-flipping proxy: {accepted} accepted, {rejected} rejected, {} connections",
        conns.load(Ordering::SeqCst)
    );
    // The changed bytes broke links (TLS refused the records), and fe
    // dialled again each time: one connection more than were changed.
    // (Counted as changed, not as the 3 asked for: the traffic may end
    // before the third connection carries 6000 bytes; the test failed so
    // once in about 20 runs when it asked for 4 connections.)
    let (n, flips) = (conns.load(Ordering::SeqCst), flipped.load(Ordering::SeqCst));
    assert!(flips >= 2, "fewer than two connections carried a changed byte: {flips} of {n}");
    assert!(n > flips, "a link broken by a changed byte was not dialled again: {flips} changed, {n} connections");
    let log = tr.log() + &fe.log();
    assert!(log.contains("TLS"), "no TLS error logged:\n{log}");
    std::thread::sleep(Duration::from_millis(300));
    drop(servers);
    let out = testkit_within(&["crash-check", "--state", s(&state)], WAIT);
    assert!(out.code == 0 && out.stdout.contains("crash check: ok"), "{out:?}");
}

/// Issue 17: a node with neither TLS nor `--insecure-links` opens no link,
/// whichever way the link would come: not only `--listen` and `--peer`
/// (refused by `rtr start`), but also peers that only the facility
/// definitions name (dialled at NAME:46000). A definition calling for one is
/// refused at `rtr create facility`, and definitions saved earlier refuse
/// the start; with `--insecure-links` the same definition is taken. (That
/// no connection is made is shown on a real listener by the unit test
/// `without_tls_or_insecure_links_no_plain_link_is_opened_on_any_path`.)
#[test]
fn a_node_without_tls_or_insecure_links_refuses_definitions_that_need_links() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("alpha");
    let start = |extra: &[&str]| {
        let mut a = vec!["start", "--dir", s(&dir), "--name", "alpha"];
        a.extend(extra);
        rtr_within(&a, WAIT)
    };
    let rtr = |args: &[&str]| {
        let mut a = args.to_vec();
        a.extend(["--dir", s(&dir)]);
        rtr_within(&a, WAIT)
    };
    let bank = ["create", "facility", "BANK", "--frontend", "alpha", "--router", "beta", "--backend", "beta"];
    let out = start(&[]);
    assert_eq!(out.code, 0, "{out:?}");
    let node = common::nodes::Running(dir.clone());
    // A facility of this node alone needs no link.
    let o = rtr(&["create", "facility", "SOLO", "--all-roles", "alpha"]);
    assert_eq!(o.code, 0, "{o:?}");
    // One that names another node is refused, says why, and is not kept.
    let o = rtr(&bank);
    assert_eq!(o.code, 1, "{o:?}");
    let want = "rtr: %RTR-E-TLSREQUIRED, facility BANK calls for links from this node (alpha) to beta: links need TLS";
    assert!(o.stderr.starts_with(want), "{o:?}");
    assert!(o.stderr.contains("--insecure-links"), "{o:?}");
    let v = rtr(&["show", "facility", "--json"]).json();
    let names: Vec<&str> = v["facilities"].as_array().unwrap().iter().filter_map(|f| f["name"].as_str()).collect();
    assert_eq!(names, ["SOLO"], "{v}");
    let v = rtr(&["show", "link", "--json"]).json();
    assert!(v["links"].as_array().is_none_or(|l| l.is_empty()), "{v}");

    // Asked for: the same definition is taken, and linked in plain text.
    drop(node);
    let out = start(&["--insecure-links"]);
    assert_eq!(out.code, 0, "{out:?}");
    let node = common::nodes::Running(dir.clone());
    let o = rtr(&bank);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("linking to beta"), "{o:?}");

    // Taken back while the saved definitions call for a link: the start
    // fails, saying why.
    drop(node);
    let out = start(&["--insecure-links", "false"]);
    assert_ne!(out.code, 0, "{out:?}");
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(all.contains("facility BANK calls for links from this node (alpha) to beta: links need TLS"), "{out:?}");
    let _gone = common::nodes::Running(dir.clone());
}

/// A proxy from `listen` to `to` that makes the first TLS record of a
/// client's stream that starts at or after offset `at` claim 8192 bytes
/// more than it has (its length's high byte gets bit 5), once, in the
/// first connection that carries that far. The receiver then waits for the
/// rest of a record that never comes whole: nothing is wrong that it can
/// see until more bytes arrive. Returns the count of connections, and the
/// number of the connection that was changed (0: none yet).
fn lengthening_proxy(listen: u16, to: u16, at: usize) -> (Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let conns = Arc::new(AtomicUsize::new(0));
    let changed = Arc::new(AtomicUsize::new(0));
    let l = TcpListener::bind(("127.0.0.1", listen)).unwrap();
    let (counted, marked) = (conns.clone(), changed.clone());
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut client) = c else { return };
            let Ok(mut server) = TcpStream::connect(("127.0.0.1", to)) else { continue };
            let number = counted.fetch_add(1, Ordering::SeqCst) + 1;
            let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || pump(s2, c2, None, None));
            let marked = marked.clone();
            std::thread::spawn(move || {
                // Record headers are 5 bytes: type, version (2), length (2).
                let (mut pos, mut header_at, mut len_hi) = (0usize, 0usize, 0u8);
                let mut buf = [0u8; 16 << 10];
                loop {
                    let n = match client.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    for b in &mut buf[..n] {
                        if pos == header_at + 3 {
                            len_hi = *b;
                            let wanted = header_at >= at && *b < 0x20;
                            if wanted && marked.compare_exchange(0, number, Ordering::SeqCst, Ordering::SeqCst).is_ok()
                            {
                                *b |= 0x20;
                            }
                        } else if pos == header_at + 4 {
                            header_at += 5 + ((usize::from(len_hi) << 8) | usize::from(*b));
                        }
                        pos += 1;
                    }
                    if server.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = server.shutdown(std::net::Shutdown::Both);
                let _ = client.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    (conns, changed)
}

/// The cause of the rare stall of the man-in-the-middle test (1 run in
/// about 50, before its clients had a timeout): a changed byte that falls
/// on the high byte of a TLS record's length makes the receiver wait for
/// 8 KB that are not coming. The sender's client waits for its outcome and
/// sends nothing but pings (a few dozen bytes each), so TLS finds nothing
/// wrong, and the receiver's link session hears nothing (no plaintext):
/// only its inactivity timer ends the link (60 s by default; 3 s here).
/// The link is then dialled again and every transaction ends, none lost.
#[test]
fn a_changed_tls_record_length_holds_the_link_until_the_inactivity_timer() {
    let root = tempfile::tempdir().unwrap();
    let ca = certs(&root.path().join("ca"), &["fe", "tr", "be"]);
    let (fe_p, tr_p, be_p, proxy_p) = (free_port(), free_port(), free_port(), free_port());
    let quick = ["--inactivity", "3"];
    let fe = start_tls(root.path(), &ca, "fe", fe_p, &[("tr", proxy_p), ("be", be_p)], &quick);
    let tr = start_tls(root.path(), &ca, "tr", tr_p, &[("fe", fe_p), ("be", be_p)], &quick);
    let be = start_tls(root.path(), &ca, "be", be_p, &[("fe", fe_p), ("tr", tr_p)], &quick);
    let _logs = LogsOnFailure(vec![&fe, &tr, &be]);
    let (conns, changed) = lengthening_proxy(proxy_p, tr_p, 6000);
    let (state, servers) = crash_facility_through_proxy(&fe, &tr, &be);
    // No start_tx timeout: every transaction must end by the link's own
    // means (the inactivity timer, the re-dial).
    let mut clients =
        spawn_testkit(&["crash-remote", "--clients", "2", "--count", "100", "--state", s(&state)], Some(&fe.socket));
    clients.expect("clients done");
    let _ = clients.child.wait();
    let (accepted, rejected) = (lines(&state.join("client-accepted.log")), lines(&state.join("client-rejected.log")));
    assert_eq!(accepted + rejected, 200, "every transaction ended once");
    let (n, changed) = (conns.load(Ordering::SeqCst), changed.load(Ordering::SeqCst));
    assert!(changed > 0, "no record length was changed ({n} connections)");
    assert!(n > changed, "the changed link (connection {changed}) was not dialled again");
    let log = tr.log();
    assert!(log.contains("link to fe: down: nothing heard for 3 s (inactivity timer)"), "{log}");
    std::thread::sleep(Duration::from_millis(300));
    drop(servers);
    let out = testkit_within(&["crash-check", "--state", s(&state)], WAIT);
    assert!(out.code == 0 && out.stdout.contains("crash check: ok"), "{out:?}");
}
