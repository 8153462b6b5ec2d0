//! Decoding and argument checks without an etcd. The answers below were
//! captured from etcd 3.4.23 (Debian's etcd-server); `core/tests/
//! etcd_authority.rs` runs the provider against the real server.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use super::gateway::{self, Gateway, GatewayError, KeepAliveMessage, LeaseGrantResponse, TxnResponse};
use super::*;

fn ok<T: serde::de::DeserializeOwned>(text: &str) -> T {
    serde_json::from_str(text).unwrap()
}

#[test]
fn a_successful_claim_answer_gives_the_created_keys_revision() {
    // success ops: put grant key (lease), put last, range grant key.
    let a: TxnResponse = ok(
        r#"{"header":{"cluster_id":"15118495548433857066","member_id":"13668033151171901709","revision":"4","raft_term":"2"},"succeeded":true,"responses":[{"response_put":{"header":{"revision":"4"}}},{"response_put":{"header":{"revision":"4"}}},{"response_range":{"header":{"revision":"4"},"kvs":[{"key":"L3J0ci9yb2xlcy94","create_revision":"4","mod_revision":"4","version":"1","value":"eyJob2xkZXIiOiJhIiwiZm9yY2VkIjpmYWxzZX0=","lease":"4111120439272671508"}],"count":"1"}}]}"#,
    );
    assert!(a.succeeded);
    assert_eq!(a.header.revision, 4);
    let kv = a.key(2).unwrap().unwrap();
    assert_eq!((kv.key.as_str(), kv.create_revision, kv.lease), ("/rtr/roles/x", 4, 4111120439272671508));
    assert_eq!(live_grant(kv).unwrap(), Grant { epoch: 4, holder: "a".into(), released: false, forced: false });
    // A put's result is not a range: asking for it is an error, not a panic.
    assert!(a.key(0).is_err());
    assert!(a.key(7).is_err());
}

#[test]
fn a_failed_compare_leaves_succeeded_out_and_an_absent_key_has_no_kvs() {
    let a: TxnResponse = ok(
        r#"{"header":{"cluster_id":"1","member_id":"2","revision":"3","raft_term":"2"},"responses":[{"response_range":{"header":{"revision":"3"}}}]}"#,
    );
    assert!(!a.succeeded);
    assert_eq!(a.key(0).unwrap(), None);
}

#[test]
fn lease_answers_decode_including_the_unknown_lease_and_the_raised_ttl() {
    // Asked for TTL 1: etcd's minimum with its default timing is 2.
    let g: LeaseGrantResponse = ok(r#"{"header":{"revision":"3"},"ID":"4111120439272671506","TTL":"2"}"#);
    assert_eq!((g.id, g.ttl, g.error.as_str()), (4111120439272671506, 2, ""));
    let k: KeepAliveMessage = ok(r#"{"result":{"header":{"revision":"1"},"ID":"4111120439272671499","TTL":"2"}}"#);
    assert_eq!(k.result.unwrap().ttl, 2);
    // A revoked or expired lease: the stream answers without a TTL.
    let k: KeepAliveMessage = ok(r#"{"result":{"header":{"revision":"5"},"ID":"4111120439272671508"}}"#);
    assert_eq!(k.result.unwrap().ttl, 0);
}

#[test]
fn last_records_give_their_epoch_as_claimed_and_as_released() {
    let claimed = KeyValue {
        key: "/rtr/roles/r/last".into(),
        create_revision: 4,
        mod_revision: 9,
        value: r#"{"holder":"b","released":false,"previous":{"holder":"a","epoch":4,"released":true}}"#.into(),
        lease: 0,
    };
    let (g, rec) = last_grant(&claimed).unwrap();
    assert_eq!(g, Grant { epoch: 9, holder: "b".into(), released: false, forced: false });
    assert_eq!(
        rec.previous.map(Grant::from),
        Some(Grant { epoch: 4, holder: "a".into(), released: true, forced: false })
    );
    let released =
        KeyValue { mod_revision: 12, value: r#"{"holder":"b","epoch":9,"released":true}"#.into(), ..claimed };
    assert_eq!(last_grant(&released).unwrap().0, Grant { epoch: 9, holder: "b".into(), released: true, forced: false });
    // What the claim writes reads back as that.
    let rec = LastRecord { holder: "c".into(), epoch: None, released: false, previous: None };
    assert_eq!(json(&rec), r#"{"holder":"c","released":false}"#);
}

#[test]
fn damaged_records_are_corrupt_not_a_panic() {
    for value in ["", "{", "[]", r#"{"holder":3}"#, r#"{"released":true}"#] {
        let kv = KeyValue { key: "/rtr/roles/r".into(), value: value.into(), ..KeyValue::default() };
        assert!(matches!(last_grant(&kv), Err(AuthorityError::Corrupt(_))), "{value:?}");
        assert!(matches!(live_grant(&kv), Err(AuthorityError::Corrupt(_))), "{value:?}");
    }
    // Not base64, or not text: the answer does not decode.
    for bad in [r#"{"kvs":[{"key":"***"}]}"#, r#"{"kvs":[{"value":"/w=="}]}"#, r#"{"kvs":[{"lease":"x"}]}"#] {
        assert!(serde_json::from_str::<gateway::RangeResponse>(bad).is_err(), "{bad}");
    }
}

#[test]
fn range_ids_that_could_alias_another_ranges_keys_are_refused() {
    assert_eq!(
        keys("bank.0a1b2c3d").unwrap(),
        ("/rtr/roles/bank.0a1b2c3d".into(), "/rtr/roles/bank.0a1b2c3d/last".into())
    );
    assert!(matches!(keys(""), Err(AuthorityError::Failed(_))));
    assert!(matches!(keys("r/last"), Err(AuthorityError::Failed(_))));
}

#[test]
fn connect_refuses_bad_arguments_before_any_request() {
    let ttl = DEFAULT_TTL;
    let e = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(matches!(Etcd::connect(&[], "a", ttl), Err(AuthorityError::Failed(_))));
    assert!(matches!(Etcd::connect(&e(&["http://127.0.0.1:2379"]), "", ttl), Err(AuthorityError::Failed(_))));
    for bad in ["https://127.0.0.1:2379", "127.0.0.1:2379", "http://", "http://h:1/v3", ""] {
        assert!(matches!(Etcd::connect(&e(&[bad]), "a", ttl), Err(AuthorityError::Failed(_))), "{bad:?}");
    }
}

#[test]
fn nobody_listening_is_unreachable() {
    // A port nobody listens on: bound, then closed.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    match Etcd::connect(&[url.clone(), format!("{url}/")], "a", DEFAULT_TTL) {
        Err(AuthorityError::Unreachable(why)) => assert!(why.contains(&url), "{why}"),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("connected to nobody"),
    }
}

#[test]
fn a_silent_endpoint_costs_one_bounded_request_then_the_next_is_tried_first() {
    // Accepts connections (the kernel's backlog does) and never answers, as
    // a member cut off from its quorum does.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let urls = vec![format!("http://{}", silent.local_addr().unwrap()), format!("http://127.0.0.1:{closed}")];
    let mut gw = Gateway::new(urls);
    let start = Instant::now();
    let r = gw.call::<gateway::RangeResponse>("/v3/kv/range", &serde_json::json!({"key": gateway::b64("k")}));
    assert!(matches!(r, Err(GatewayError::Unreachable(_))), "{r:?}");
    // A hang check with room for a loaded machine, not a speed check.
    assert!(start.elapsed() < Duration::from_secs(30));
    // The silent one failed: the next request starts at the other.
    let r = gw.call::<gateway::RangeResponse>("/v3/kv/range", &serde_json::json!({"key": gateway::b64("k")}));
    let Err(GatewayError::Unreachable(why)) = r else { panic!("{r:?}") };
    assert!(why.starts_with(&format!("http://127.0.0.1:{closed}")), "{why}");
}

#[test]
fn a_lease_is_ours_until_ttl_less_a_quarter_after_the_renewal_was_sent() {
    let renewed = Instant::now();
    let lease = Lease { id: 1, ttl: Duration::from_secs(2), renewed };
    assert!(lease.live(renewed + Duration::from_millis(1499)));
    assert!(!lease.live(renewed + Duration::from_millis(1500)));
}

#[test]
fn a_request_tries_every_endpoint_once_in_turn() {
    let closed: Vec<String> = (0..3)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect::<Vec<_>>()
        .iter()
        .map(|l| format!("http://{}", l.local_addr().unwrap()))
        .collect();
    let mut gw = Gateway::new(closed.clone());
    let r = gw.call::<gateway::RangeResponse>("/v3/kv/range", &serde_json::json!({"key": gateway::b64("k")}));
    let Err(GatewayError::Unreachable(why)) = r else { panic!("{r:?}") };
    for url in &closed {
        assert_eq!(why.matches(&format!("{url}:")).count(), 1, "{url} in {why}");
    }
}
