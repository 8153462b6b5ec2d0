//! The admin frames keep the codec's promises: every frame round-trips,
//! every truncation and every extension is an error, arbitrary and mutated
//! bytes never panic.

use proptest::prelude::*;

use super::*;
use crate::protocol::codec::{decode, encode, read_frame, Frame};

fn tid(seq: u64) -> Tid {
    Tid { node: 1, incarnation: 0x5f3e, conn: 3, seq }
}

fn requests() -> Vec<AdminRequest> {
    vec![
        AdminRequest::ShowFacility,
        AdminRequest::ShowPartition,
        AdminRequest::ShowServer,
        AdminRequest::ShowTransaction,
        AdminRequest::ShowLink,
        AdminRequest::ShowMetrics,
        AdminRequest::CreateFacility {
            name: "bank".into(),
            frontends: vec!["alpha".into(), "beta".into()],
            routers: vec!["alpha".into()],
            backends: vec![],
        },
        AdminRequest::DeleteFacility { name: "BANK".into() },
        AdminRequest::Stop,
        AdminRequest::SetPartition { facility: "BANK".into(), id: 3, change: PartitionChange::Suspend },
        AdminRequest::SetPartition { facility: "BANK".into(), id: 3, change: PartitionChange::Resume },
        AdminRequest::SetPartition { facility: "BANK".into(), id: 3, change: PartitionChange::RetryLimit(5) },
        AdminRequest::SetPartition { facility: "BANK".into(), id: 3, change: PartitionChange::IgnoreRecovery },
        AdminRequest::SetPartition { facility: "BANK".into(), id: 3, change: PartitionChange::RestartRecovery },
        AdminRequest::SetPartition { facility: "BANK".into(), id: 3, change: PartitionChange::FailToShadow(true) },
        AdminRequest::SetPartition { facility: "BANK".into(), id: 3, change: PartitionChange::FailToShadow(false) },
        AdminRequest::SetPartition { facility: "BANK".into(), id: 3, change: PartitionChange::Shadowing(false) },
        AdminRequest::SetPartition { facility: "BANK".into(), id: 3, change: PartitionChange::Shadowing(true) },
        AdminRequest::SetPartition { facility: "BANK".into(), id: 3, change: PartitionChange::PriDone(None) },
        AdminRequest::SetPartition {
            facility: "BANK".into(),
            id: 3,
            change: PartitionChange::PriDone(Some(Tid { node: 1, incarnation: 2, conn: 3, seq: 9 })),
        },
        AdminRequest::SetPartition {
            facility: "BANK".into(),
            id: 3,
            change: PartitionChange::PriorityList(vec!["be2".into(), "be1".into()]),
        },
        AdminRequest::SetTransaction {
            tid: Tid { node: 1, incarnation: 2, conn: 3, seq: 4 },
            change: TxChange::Forget,
        },
        AdminRequest::SetTransaction { tid: Tid { node: 1, incarnation: 2, conn: 3, seq: 5 }, change: TxChange::Retry },
    ]
}

fn replies() -> Vec<AdminReply> {
    vec![
        AdminReply::Done { message: "facility BANK created".into() },
        AdminReply::Failed(AdminError::DuplicateNodeName("duplicate node name a in the backend list".into())),
        AdminReply::Facilities { node: "alpha".into(), rows: vec![] },
        AdminReply::Facilities {
            node: "alpha".into(),
            rows: vec![
                FacilityInfo {
                    name: "BANK".into(),
                    defined: true,
                    frontends: vec!["alpha".into()],
                    routers: vec!["alpha".into(), "beta".into()],
                    backends: vec!["gamma".into()],
                    roles: Roles { frontend: true, router: true, backend: false },
                    clients: 2,
                    servers: 0,
                    partitions: 0,
                },
                FacilityInfo {
                    name: "PROBE".into(),
                    defined: false,
                    frontends: vec![],
                    routers: vec![],
                    backends: vec![],
                    roles: Roles::ALL,
                    clients: 0,
                    servers: 1,
                    partitions: 1,
                },
            ],
        },
        AdminReply::Partitions {
            rows: vec![PartitionInfo {
                facility: "BANK".into(),
                id: 7,
                name: "Accounts_1".into(),
                range: "u32@0 [0..=99]".into(),
                state: PartitionState::NoServers,
                servers: 0,
                free_servers: 0,
                waiting: 3,
                in_progress: 0,
                concurrent: true,
                epoch: 12,
                holder: "be2".into(),
                authority: "shared root /var/rtr".into(),
                note: "standby: be2 holds grant 12".into(),
                site: "east".into(),
                backlog: 41,
            }],
            omitted: 0,
        },
        AdminReply::Servers {
            rows: vec![
                ServerInfo {
                    pid: 4242,
                    conn: 2,
                    channel: 1,
                    facility: "BANK".into(),
                    partition: 7,
                    range: "(all keys)".into(),
                    state: ServerState::Voted,
                    tid: Some(tid(9)),
                    unacked: 1,
                    flags: "concurrent".into(),
                },
                ServerInfo {
                    pid: 0,
                    conn: 2,
                    channel: 2,
                    facility: "BANK".into(),
                    partition: 7,
                    range: "".into(),
                    state: ServerState::Free,
                    tid: None,
                    unacked: 0,
                    flags: "".into(),
                },
            ],
            omitted: 5,
        },
        AdminReply::Transactions {
            rows: vec![
                TransactionInfo {
                    tid: tid(9),
                    facility: "BANK".into(),
                    client: Some((1, 1)),
                    client_pid: 4141,
                    frontend: Some(FeState::Voting),
                    router: Some(RouterTxInfo { state: TrState::Voting, branches: 2, votes: 1 }),
                    branches: vec![
                        BranchInfo {
                            partition: 7,
                            state: BeState::Voted,
                            server: Some((2, 1)),
                            uncertain: false,
                            messages: 2,
                        },
                        BranchInfo {
                            partition: 8,
                            state: BeState::Receiving,
                            server: None,
                            uncertain: true,
                            messages: 1,
                        },
                    ],
                    age_ms: Some(1234),
                },
                TransactionInfo {
                    tid: tid(1),
                    facility: "BANK".into(),
                    client: None,
                    client_pid: 0,
                    frontend: None,
                    router: None,
                    branches: vec![BranchInfo {
                        partition: 7,
                        state: BeState::Commit,
                        server: None,
                        uncertain: true,
                        messages: 1,
                    }],
                    age_ms: None,
                },
            ],
            omitted: 0,
        },
        AdminReply::Links { rows: vec![] },
        AdminReply::Links {
            rows: vec![LinkInfo { node: "beta".into(), state: "connected".into(), facilities: vec!["BANK".into()] }],
        },
        AdminReply::Metrics(Box::new(metrics_sample(false))),
        AdminReply::Metrics(Box::new(metrics_sample(true))),
    ]
}

fn metrics_sample(full: bool) -> MetricsInfo {
    let mut h = crate::histogram::Histogram::default();
    for v in [1, 700, 1 << 20] {
        h.record(v);
    }
    MetricsInfo {
        node: "alpha".into(),
        tx_started: 12,
        tx_committed: 9,
        tx_rejected: if full { vec![(crate::Status::Timout, 2), (crate::Status::Rejected, 1)] } else { vec![] },
        commit_latency_us: h.clone(),
        journal: full.then(|| JournalMetrics {
            bytes_used: 4096,
            bytes_capacity: 1 << 30,
            segments: 1,
            syncs: 9,
            batches: 8,
            records: 30,
            sync_us: h.clone(),
            batch_appends: crate::histogram::Histogram::default(),
        }),
        links: if full {
            vec![LinkMetrics { node: "beta".into(), up: true, bytes_in: 10, bytes_out: 20 }]
        } else {
            vec![]
        },
        partitions: if full {
            vec![PartitionMetrics {
                facility: "BANK".into(),
                id: 1,
                name: "p1".into(),
                state: PartitionState::Active,
                in_flight: 2,
                queue: 5,
            }]
        } else {
            vec![]
        },
        library: LibraryMetrics { connections: 3, requests: 100, deliveries: 90 },
    }
}

fn frames() -> Vec<Frame> {
    requests().into_iter().map(Frame::Admin).chain(replies().into_iter().map(Frame::AdminReply)).collect()
}

fn same(a: &Frame, b: &Frame) -> bool {
    match (a, b) {
        (Frame::Admin(x), Frame::Admin(y)) => x == y,
        (Frame::AdminReply(x), Frame::AdminReply(y)) => x == y,
        _ => false,
    }
}

#[test]
fn every_admin_frame_round_trips() {
    for f in frames() {
        let bytes = encode(&f);
        let body = read_frame(&mut &bytes[..]).unwrap();
        let back = decode(&body).unwrap();
        assert!(same(&f, &back), "{f:?} came back as {back:?}");
    }
}

#[test]
fn every_truncation_and_extension_of_an_admin_frame_is_an_error() {
    for f in frames() {
        let bytes = encode(&f);
        let body = &bytes[4..];
        for cut in 0..body.len() {
            assert!(decode(&body[..cut]).is_err(), "{f:?} cut at {cut} decoded");
        }
        let mut longer = body.to_vec();
        longer.push(0);
        assert!(matches!(decode(&longer), Err(DecodeError::Trailing(1))), "{f:?}");
    }
}

#[test]
fn unknown_tags_and_oversized_lists_are_refused() {
    let kind_of = |f: Frame| encode(&f)[5];
    let admin = kind_of(Frame::Admin(AdminRequest::Stop));
    let reply = kind_of(Frame::AdminReply(AdminReply::Links { rows: vec![] }));
    let v = crate::protocol::codec::VERSION;
    assert!(matches!(decode(&[v, admin, 99]), Err(DecodeError::UnknownTag { what: "admin request", tag: 99 })));
    assert!(matches!(decode(&[v, reply, 0]), Err(DecodeError::UnknownTag { what: "admin reply", tag: 0 })));
    // A partition list claiming more rows than a reply may hold.
    let mut body = vec![v, reply, 4];
    body.extend_from_slice(&((MAX_ROWS + 1) as u32).to_le_bytes());
    assert!(matches!(decode(&body), Err(DecodeError::TooLong { .. })));
    // A list of strings claiming four billion entries stops at the input's end.
    let mut body = vec![v, admin, 6, 1, 0, 0, 0, b'F'];
    body.extend_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(decode(&body), Err(DecodeError::Truncated)));
    // A state tag past the last state (active, no_servers, suspended,
    // standby, wt_tr_ok, lcl_rec, lcl_rec_fail, pri_act, remember, sec_act,
    // shd_off).
    let reply = replies()[4].clone();
    let mut bytes = encode(&Frame::AdminReply(reply.clone()))[4..].to_vec();
    // The partition state byte: where the encoding of another state differs.
    let AdminReply::Partitions { mut rows, omitted } = reply else { panic!("replies()[4] lists partitions") };
    rows[0].state = PartitionState::Active;
    let other = encode(&Frame::AdminReply(AdminReply::Partitions { rows, omitted }))[4..].to_vec();
    let at = bytes.iter().zip(&other).position(|(a, b)| a != b).expect("the state is encoded");
    assert_eq!(bytes[at], 1);
    bytes[at] = 11;
    assert!(matches!(decode(&bytes), Err(DecodeError::UnknownTag { what: "partition state", tag: 11 })));
}

#[test]
fn clip_keeps_short_texts_and_cuts_long_ones_at_a_character() {
    assert_eq!(clip("abc".into(), 10), "abc");
    assert_eq!(clip("abcdefghijk".into(), 10), "abcdefg...");
    let s = "é".repeat(10); // two bytes each
    let c = clip(s, 10);
    assert!(c.len() <= 10 && c.ends_with("...") && c.starts_with("éé"), "{c}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decoding_arbitrary_admin_bodies_never_panics(
        kind in prop_oneof![Just(30u8), Just(31u8)],
        body in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut b = vec![crate::protocol::codec::VERSION, kind];
        b.extend_from_slice(&body);
        let _ = decode(&b);
    }

    #[test]
    fn decoding_mutated_admin_frames_never_panics(idx in any::<usize>(), pos in any::<usize>(), byte in any::<u8>()) {
        let all = frames();
        let f = &all[idx % all.len()];
        let mut body = encode(f)[4..].to_vec();
        let at = pos % body.len();
        body[at] = byte;
        let _ = decode(&body);
    }

    #[test]
    fn create_requests_round_trip(name in "[ -~]{0,40}",
                                  nodes in proptest::collection::vec("[a-z0-9.-]{0,20}", 0..6)) {
        let f = Frame::Admin(AdminRequest::CreateFacility {
            name,
            frontends: nodes.clone(),
            routers: nodes.iter().rev().cloned().collect(),
            backends: nodes,
        });
        let back = decode(&encode(&f)[4..]).unwrap();
        prop_assert!(same(&f, &back));
    }
}
