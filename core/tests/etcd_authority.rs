//! The etcd role authority against real etcd servers (Debian's etcd-server;
//! the tests fail, saying so, when it is not installed). Each test starts
//! its own etcd on loopback ports with its data in a temp dir, and kills it
//! at the end, even on panic. Waits are bounded; none asserts how fast
//! anything happens.

mod etcd_authority {
    pub mod etcd_server;
    pub mod lossy_proxy;
}

use std::time::{Duration, Instant};

use base64::Engine as _;

use etcd_authority::etcd_server::Cluster;
use etcd_authority::lossy_proxy::LossyProxy;
use rtr_core::authority::etcd::{Etcd, DEFAULT_TTL};
use rtr_core::authority::{Authority, AuthorityError, Claim, Grant};

/// Long enough for a lease to expire or a cluster to re-elect on a loaded
/// machine; a bound against hanging, never a measure of speed.
const PATIENCE: Duration = Duration::from_secs(60);

fn node(endpoints: &[String], name: &str) -> Etcd {
    Etcd::connect(endpoints, name, DEFAULT_TTL).unwrap()
}

fn grant(epoch: u64, holder: &str, released: bool) -> Grant {
    Grant { epoch, holder: holder.to_string(), released, forced: false }
}

/// Call `f` every 100 ms (keeping `keep` maintained meanwhile) until it
/// returns Some, for at most PATIENCE.
fn eventually<T>(what: &str, keep: &mut [&mut Etcd], mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        for k in keep.iter_mut() {
            assert!(k.maintain().is_empty(), "{} lost a grant while waiting for: {what}", k.describe());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn one_node_holds_a_range_until_it_releases_it_then_the_next_claim_wins_without_recovery() {
    let etcd = Cluster::start(1);
    let (mut a, mut b) = (node(&etcd.endpoints(), "a"), node(&etcd.endpoints(), "b"));
    assert!(a.describe().starts_with("etcd http://127.0.0.1:"), "{}", a.describe());
    assert_eq!(a.current("r").unwrap(), None);

    let Claim::Granted { epoch: e1, previous: None } = a.claim("r", None).unwrap() else { panic!("a not granted") };
    // Claimed again by its holder: the same grant, harmlessly.
    assert_eq!(a.claim("r", None).unwrap(), Claim::Granted { epoch: e1, previous: None });
    assert_eq!(b.claim("r", None).unwrap(), Claim::Held(grant(e1, "a", false)));
    // etcd has no forced claims: a claim over the holder's epoch is plain.
    assert_eq!(b.claim("r", Some(e1)).unwrap(), Claim::Held(grant(e1, "a", false)));
    assert_eq!(b.current("r").unwrap(), Some(grant(e1, "a", false)));
    // Another range is another record.
    assert!(matches!(b.claim("s", None).unwrap(), Claim::Granted { previous: None, .. }));

    // Releasing an epoch that is not a's grant does nothing.
    a.release("r", e1 + 1000).unwrap();
    assert_eq!(b.claim("r", None).unwrap(), Claim::Held(grant(e1, "a", false)));
    a.release("r", e1).unwrap();
    assert_eq!(b.current("r").unwrap(), Some(grant(e1, "a", true)));
    let Claim::Granted { epoch: e2, previous } = b.claim("r", None).unwrap() else { panic!("b not granted") };
    assert!(e2 > e1, "epochs only grow: {e1} then {e2}");
    assert_eq!(previous, Some(grant(e1, "a", true)));
    assert_eq!(a.claim("r", None).unwrap(), Claim::Held(grant(e2, "b", false)));
    // Neither lost anything it still thinks it holds.
    assert!(a.maintain().is_empty());
    assert!(b.maintain().is_empty());
}

#[test]
fn a_note_is_on_no_lease_so_it_outlives_its_writers_grant_and_handle() {
    let etcd = Cluster::start(1);
    let (mut a, mut b) = (node(&etcd.endpoints(), "a"), node(&etcd.endpoints(), "b"));
    assert_eq!(b.note("r").unwrap(), None);
    let Claim::Granted { .. } = a.claim("r", None).unwrap() else { panic!("a not granted") };
    a.set_note("r", Some("east")).unwrap();
    a.close().unwrap();
    assert!(matches!(b.claim("r", None).unwrap(), Claim::Granted { .. }));
    assert_eq!(b.note("r").unwrap().as_deref(), Some("east"));
    // The note is not a grant: the range's other keys are untouched by it.
    assert_eq!(b.current("r").unwrap().map(|g| g.holder), Some("b".to_string()));
    b.set_note("r", None).unwrap();
    b.set_note("r", None).unwrap();
    assert_eq!(b.note("r").unwrap(), None);
    assert!(matches!(b.set_note("r", Some(&"x".repeat(256))), Err(AuthorityError::Failed(_))));
}

#[test]
fn a_holder_that_stops_renewing_loses_the_range_unreleased_and_hears_of_it_once() {
    let etcd = Cluster::start(1);
    let (mut a, mut b) = (node(&etcd.endpoints(), "a"), node(&etcd.endpoints(), "b"));
    let Claim::Granted { epoch: e1, .. } = a.claim("r", None).unwrap() else { panic!("a not granted") };
    // a no longer calls maintain (a frozen or killed process): its lease
    // runs out and b's claim wins, with a's journal to recover.
    let (e2, previous) = eventually("b's claim to win", &mut [], || match b.claim("r", None).unwrap() {
        Claim::Granted { epoch, previous } => Some((epoch, previous)),
        Claim::Held(g) => {
            assert_eq!(g, grant(e1, "a", false));
            None
        }
    });
    assert!(e2 > e1);
    assert_eq!(previous, Some(grant(e1, "a", false)));
    // a, woken up, learns it lost the grant, once.
    assert_eq!(a.maintain(), vec![("r".to_string(), e1)]);
    assert!(a.maintain().is_empty(), "reported once");
    assert_eq!(a.claim("r", None).unwrap(), Claim::Held(grant(e2, "b", false)));
    // Releasing the lost grant does nothing to b's.
    a.release("r", e1).unwrap();
    assert_eq!(a.current("r").unwrap(), Some(grant(e2, "b", false)));
}

#[test]
fn a_holder_that_keeps_renewing_keeps_the_range_past_its_ttl() {
    let etcd = Cluster::start(1);
    let (mut a, mut b) = (node(&etcd.endpoints(), "a"), node(&etcd.endpoints(), "b"));
    let Claim::Granted { epoch, .. } = a.claim("r", None).unwrap() else { panic!("a not granted") };
    // Three TTLs, maintained as the runtime does (about every 100 ms).
    let until = Instant::now() + 3 * DEFAULT_TTL;
    while Instant::now() < until {
        assert!(a.maintain().is_empty(), "a lost its grant while renewing");
        assert_eq!(b.claim("r", None).unwrap(), Claim::Held(grant(epoch, "a", false)));
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_dropped_handle_passes_its_range_on_after_the_ttl_and_a_closed_one_at_once() {
    let etcd = Cluster::start(1);
    let mut b = node(&etcd.endpoints(), "b");
    let mut a = node(&etcd.endpoints(), "a");
    let Claim::Granted { epoch: e1, .. } = a.claim("r", None).unwrap() else { panic!("a not granted") };
    drop(a); // as a killed process: nothing revoked
    let (e2, previous) = eventually("b's claim after a was dropped", &mut [], || match b.claim("r", None).unwrap() {
        Claim::Granted { epoch, previous } => Some((epoch, previous)),
        Claim::Held(_) => None,
    });
    assert_eq!(previous, Some(grant(e1, "a", false)));

    let mut c = node(&etcd.endpoints(), "c");
    assert_eq!(c.claim("r", None).unwrap(), Claim::Held(grant(e2, "b", false)));
    b.close().unwrap();
    // The lease was revoked: the very next claim wins, and must recover b.
    let Claim::Granted { previous, .. } = c.claim("r", None).unwrap() else { panic!("c not granted after close") };
    assert_eq!(previous, Some(grant(e2, "b", false)));
}

#[test]
fn a_claim_whose_answer_was_lost_still_tells_the_retry_which_grant_it_replaced() {
    let etcd = Cluster::start(1);
    let proxy = LossyProxy::start(&etcd.endpoints()[0]);
    let (mut a, mut b) = (node(&[proxy.url()], "a"), node(&etcd.endpoints(), "b"));
    let Claim::Granted { epoch: e1, .. } = b.claim("r", None).unwrap() else { panic!("b not granted") };
    // a, a standby, has its lease and has read the range's record: its next
    // claim is one transaction, the one whose answer goes missing.
    assert_eq!(a.claim("r", None).unwrap(), Claim::Held(grant(e1, "b", false)));
    b.close().unwrap(); // b's process ended: its journal needs recovering
    proxy.lose_answers(true);
    let lost = a.claim("r", None);
    assert!(matches!(lost, Err(AuthorityError::Unreachable(_))), "{lost:?}");
    proxy.lose_answers(false);
    // etcd applied it: a holds the key. The retry must still say that b's
    // grant (not released) is replaced, or b's journal is never recovered.
    let mut c = node(&etcd.endpoints(), "c");
    assert!(matches!(c.claim("r", None).unwrap(), Claim::Held(Grant { ref holder, .. }) if holder == "a"));
    let Claim::Granted { epoch, previous } = a.claim("r", None).unwrap() else { panic!("a not granted") };
    assert_eq!(previous, Some(grant(e1, "b", false)));
    // Heard once: from now on the claim is a plain retry.
    assert_eq!(a.claim("r", None).unwrap(), Claim::Granted { epoch, previous: None });
    assert!(a.maintain().is_empty());
}

#[test]
fn a_holder_whose_key_was_deleted_behind_its_back_reports_the_grant_lost() {
    let etcd = Cluster::start(1);
    let (mut a, mut b) = (node(&etcd.endpoints(), "a"), node(&etcd.endpoints(), "b"));
    let Claim::Granted { epoch, .. } = a.claim("r", None).unwrap() else { panic!("a not granted") };
    // An operator deletes the grant key (the lease lives on).
    let key = base64::engine::general_purpose::STANDARD.encode("/rtr/roles/r");
    // Straight to etcd, past any proxy the environment names.
    let direct: ureq::Agent = ureq::Agent::config_builder().proxy(None).build().into();
    let answer = direct
        .post(format!("{}/v3/kv/deleterange", etcd.endpoints()[0]))
        .send(serde_json::json!({ "key": key }).to_string())
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    assert!(answer.contains(r#""deleted":"1""#), "{answer}");
    // The next claim wins (with a's journal to recover), and a hears of it.
    let Claim::Granted { previous, .. } = b.claim("r", None).unwrap() else { panic!("b not granted") };
    assert_eq!(previous, Some(grant(epoch, "a", false)));
    let lost = eventually("a to see its key gone", &mut [], || Some(a.maintain()).filter(|l| !l.is_empty()));
    assert_eq!(lost, vec![("r".to_string(), epoch)]);
    assert!(a.maintain().is_empty());
}

#[test]
fn a_dead_etcd_makes_every_call_unreachable_and_the_holder_stops_by_itself() {
    let mut etcd = Cluster::start(1);
    let endpoints = etcd.endpoints();
    let mut a = node(&endpoints, "a");
    let Claim::Granted { epoch, .. } = a.claim("r", None).unwrap() else { panic!("a not granted") };
    etcd.kill(0);
    let start = Instant::now();
    assert!(matches!(a.claim("s", None), Err(AuthorityError::Unreachable(_))));
    assert!(matches!(a.claim("r", None), Err(AuthorityError::Unreachable(_))));
    assert!(matches!(a.current("r"), Err(AuthorityError::Unreachable(_))));
    assert!(matches!(a.release("r", epoch), Err(AuthorityError::Unreachable(_))));
    assert!(matches!(Etcd::connect(&endpoints, "b", DEFAULT_TTL), Err(AuthorityError::Unreachable(_))));
    // A hang check with room for a loaded machine, not a speed check.
    assert!(start.elapsed() < PATIENCE);
    // Unable to renew, the holder gives the grant up once its lease may
    // have run out at etcd, reported once.
    let lost = eventually("a to give up its grant", &mut [], || Some(a.maintain()).filter(|l| !l.is_empty()));
    assert_eq!(lost, vec![("r".to_string(), epoch)]);
    assert!(a.maintain().is_empty());
}

#[test]
fn a_three_member_cluster_grants_while_two_members_live_and_never_with_one() {
    let mut etcd = Cluster::start(3);
    let members = etcd.endpoints();
    let leader = etcd.leader();
    let (follower, other) = ((leader + 1) % 3, (leader + 2) % 3);
    // a talks to a follower first, b to the leader.
    let mut a = node(&[members[follower].clone(), members[other].clone(), members[leader].clone()], "a");
    let mut b = node(&[members[leader].clone(), members[other].clone(), members[follower].clone()], "b");
    let Claim::Granted { epoch: e1, .. } = a.claim("r", None).unwrap() else { panic!("a not granted") };

    // a's member dies; the leader and the other member are a quorum, and
    // nobody needs electing: a goes on through the next endpoint and keeps
    // its grant, renewed all along.
    etcd.kill(follower);
    let Claim::Granted { epoch: e2, .. } = b.claim("s", None).unwrap() else { panic!("b not granted") };
    assert!(e2 > e1);
    assert_eq!(a.claim("r", None).unwrap(), Claim::Granted { epoch: e1, previous: None });
    assert_eq!(b.claim("r", None).unwrap(), Claim::Held(grant(e1, "a", false)));
    let until = Instant::now() + 2 * DEFAULT_TTL;
    while Instant::now() < until {
        assert!(a.maintain().is_empty(), "a lost its grant with a quorum alive");
        std::thread::sleep(Duration::from_millis(100));
    }

    // One member of three left: a minority, which grants nothing, and the
    // holder stops by itself.
    etcd.kill(leader);
    for range in ["t", "r", "s"] {
        let r = b.claim(range, None);
        assert!(matches!(r, Err(AuthorityError::Unreachable(_))), "{range}: {r:?}");
    }
    let lost =
        eventually("a to give up its grant in the minority", &mut [], || Some(a.maintain()).filter(|l| !l.is_empty()));
    assert_eq!(lost, vec![("r".to_string(), e1)]);
}

#[test]
fn when_the_leader_of_three_dies_claims_work_again_after_the_election() {
    let mut etcd = Cluster::start(3);
    let members = etcd.endpoints();
    let leader = etcd.leader();
    let (mut a, mut b) = (node(&members, "a"), node(&members, "b"));
    assert!(matches!(a.claim("r", None).unwrap(), Claim::Granted { .. }));
    etcd.kill(leader);
    // Calls fail while the two left elect a leader (a's grant may be lost
    // meanwhile: its lease cannot be renewed without one); then they work.
    eventually("a claim once the two left have a leader", &mut [], || match b.claim("s", None) {
        Ok(Claim::Granted { .. }) => Some(()),
        Ok(other) => panic!("{other:?}"),
        Err(AuthorityError::Unreachable(_)) => None,
        Err(e) => panic!("{e}"),
    });
    eventually("a's claim once the two left have a leader", &mut [], || {
        let _ = a.maintain();
        a.claim("r", None).ok()
    });
}

#[test]
#[should_panic(expected = "install etcd-server")]
fn without_the_etcd_binary_the_tests_fail_saying_what_to_install() {
    let _ = Cluster::start_with("/nonexistent/etcd", 1);
}
