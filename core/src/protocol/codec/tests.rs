use proptest::prelude::*;

use super::*;

fn t(seq: u64) -> Tid {
    Tid { node: 1, incarnation: 7, conn: 3, seq }
}

fn samples() -> Vec<Frame> {
    let seg =
        KeySegment::new(0, KeyType::Unsigned, 4, 0, Some(&1u32.to_ne_bytes()), Some(&9u32.to_ne_bytes())).unwrap();
    let sseg = KeySegment::new(1, KeyType::String, 3, 4, Some(b"aa"), Some(b"zz")).unwrap();
    vec![
        Frame::Hello { version: 1, pid: 42 },
        Frame::Welcome { conn: 5, node: 1, incarnation: 9 },
        Frame::Refuse { status: Status::Nodeunavail, reason: "no".into() },
        Frame::Request(Request::Open {
            chan: 1,
            role: Role::Server,
            facility: "BANK".into(),
            flags: 0x102,
            range: KeyRange::new(vec![seg, sseg]).unwrap(),
        }),
        Frame::Request(Request::Open {
            chan: 2,
            role: Role::Client,
            facility: "BANK".into(),
            flags: 1,
            range: KeyRange::default(),
        }),
        Frame::Request(Request::Close { chan: 2 }),
        Frame::Request(Request::StartTx { chan: 2, tid: t(1), timeout_ms: Some(500) }),
        Frame::Request(Request::StartTx { chan: 2, tid: t(2), timeout_ms: None }),
        Frame::Request(Request::Send { chan: 2, tid: t(2), flags: 1, data: Bytes::from(&b"hello"[..]) }),
        Frame::Request(Request::Reply { chan: 1, tid: t(2), flags: 0, data: Bytes::from(&[][..]) }),
        Frame::Request(Request::Accept { chan: 1, tid: t(2), flags: 0, reason: 4, implicit: true }),
        Frame::Request(Request::Reject { chan: 1, tid: t(2), flags: 0, reason: 5 }),
        Frame::Request(Request::Ack { chan: 1, tid: t(2) }),
        Frame::Request(Request::Disconnect),
        Frame::Request(Request::Subscribe { chan: 3, recipient: "srvA".into(), events: vec![(1, 10), (268, 268)] }),
        Frame::Request(Request::Broadcast {
            chan: 3,
            evtnum: 5,
            rcpspc: "srv*".into(),
            data: Bytes::from(&b"news"[..]),
        }),
        Frame::Delivery(Delivery {
            chan: 1,
            msgtype: MsgType::Msg1,
            tid: Some(t(2)),
            evtnum: 0,
            payload: Payload::Data(Bytes::from(&b"x"[..])),
            fence: 7,
        }),
        Frame::Delivery(Delivery {
            chan: 1,
            msgtype: MsgType::Rejected,
            tid: Some(t(2)),
            evtnum: 0,
            payload: Payload::Status { status: Status::Rejected, reason: 5 },
            fence: 0,
        }),
        Frame::Delivery(Delivery {
            chan: 1,
            msgtype: MsgType::Prepare,
            tid: None,
            evtnum: -1,
            payload: Payload::None,
            fence: 0,
        }),
        Frame::EventsDropped { count: 7 },
        Frame::EventsDropped { count: u64::MAX },
    ]
}

fn same(a: &Frame, b: &Frame) -> bool {
    match (a, b) {
        (Frame::Hello { version: v1, pid: p1 }, Frame::Hello { version: v2, pid: p2 }) => v1 == v2 && p1 == p2,
        (
            Frame::Welcome { conn: c1, node: n1, incarnation: i1 },
            Frame::Welcome { conn: c2, node: n2, incarnation: i2 },
        ) => (c1, n1, i1) == (c2, n2, i2),
        (Frame::Refuse { status: s1, reason: r1 }, Frame::Refuse { status: s2, reason: r2 }) => s1 == s2 && r1 == r2,
        (Frame::Request(x), Frame::Request(y)) => x == y,
        (Frame::Delivery(x), Frame::Delivery(y)) => x == y,
        (Frame::EventsDropped { count: x }, Frame::EventsDropped { count: y }) => x == y,
        _ => false,
    }
}

#[test]
fn every_frame_round_trips() {
    for f in samples() {
        let bytes = encode(&f);
        let body = read_frame(&mut &bytes[..]).unwrap();
        let back = decode(&body).unwrap();
        assert!(same(&f, &back), "{f:?} came back as {back:?}");
    }
}

#[test]
fn a_delivery_encoded_in_place_is_the_same_frame() {
    let mut buf = b"before".to_vec();
    for f in samples() {
        let Frame::Delivery(d) = &f else { continue };
        let at = buf.len();
        let n = encode_delivery_into(&mut buf, d);
        assert_eq!(buf[at..], encode(&f)[..]);
        assert_eq!(n, buf.len() - at);
    }
    assert_eq!(&buf[..6], b"before");
}

#[test]
fn a_request_encoded_in_place_is_the_same_frame() {
    let mut buf = b"before".to_vec();
    let mut requests = 0;
    for f in samples() {
        let Frame::Request(r) = &f else { continue };
        let at = buf.len();
        let n = encode_request_into(&mut buf, r);
        assert_eq!(buf[at..], encode(&f)[..], "{r:?}");
        assert_eq!(n, buf.len() - at);
        requests += 1;
    }
    assert!(requests > 10);
    assert_eq!(&buf[..6], b"before");
}

#[test]
fn every_truncation_and_extension_is_an_error_not_a_panic() {
    for f in samples() {
        let bytes = encode(&f);
        let body = &bytes[4..];
        for cut in 0..body.len() {
            assert!(decode(&body[..cut]).is_err(), "{f:?} cut at {cut} decoded");
        }
        let mut longer = body.to_vec();
        longer.push(0);
        assert_eq!(decode(&longer).err(), Some(DecodeError::Trailing(1)));
    }
}

#[test]
fn foreign_versions_kinds_and_tags_are_refused() {
    let mut b = encode(&Frame::Request(Request::Disconnect))[4..].to_vec();
    b[0] = VERSION + 1;
    assert_eq!(decode(&b).err(), Some(DecodeError::Version { got: VERSION + 1 }));
    // Version 1 had no EventsDropped frame: its frames are refused too.
    b[0] = 1;
    assert_eq!(decode(&b).err(), Some(DecodeError::Version { got: 1 }));
    assert_eq!(decode(&[VERSION, 99]).err(), Some(DecodeError::UnknownKind(99)));
    assert!(matches!(decode(&[VERSION, K_REQUEST, 77]), Err(DecodeError::UnknownTag { what: "request", tag: 77 })));
    // A key range that violates the key rules (a 3-byte unsigned key).
    let mut w = Writer::default();
    w.u8(VERSION);
    w.u8(K_REQUEST);
    w.u8(1);
    w.u32(1);
    w.u8(1);
    w.str("F");
    w.u32(2);
    w.u8(1);
    w.u8(0);
    w.u32(3);
    w.u32(0);
    w.bytes(&[0, 0, 0]);
    w.bytes(&[1, 1, 1]);
    assert!(matches!(decode(&w.buf), Err(DecodeError::Key(KeyError::BadNumericLength { .. }))));
}

#[test]
fn frame_reader_refuses_oversized_and_undersized_frames() {
    let big = ((MAX_FRAME + 1) as u32).to_le_bytes();
    assert!(matches!(read_frame(&mut &big[..]), Err(FrameError::Oversized(_))));
    let tiny = 1u32.to_le_bytes();
    assert!(matches!(read_frame(&mut &tiny[..]), Err(FrameError::Undersized(1))));
    assert!(matches!(read_frame(&mut &[][..]), Err(FrameError::Closed)));
    // A length that promises more than arrives.
    let mut short = 10u32.to_le_bytes().to_vec();
    short.extend_from_slice(&[VERSION, 1]);
    assert!(matches!(read_frame(&mut &short[..]), Err(FrameError::Io(_))));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decoding_arbitrary_bytes_never_panics(body in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode(&body);
    }

    #[test]
    fn decoding_mutated_frames_never_panics(idx in any::<usize>(), pos in any::<usize>(), byte in any::<u8>()) {
        let all = samples();
        let f = &all[idx % all.len()];
        let mut body = encode(f)[4..].to_vec();
        let at = pos % body.len();
        body[at] = byte;
        let _ = decode(&body);
    }

    #[test]
    fn sends_round_trip(chan in any::<u32>(), seq in any::<u64>(), flags in any::<u32>(),
                        data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let f = Frame::Request(Request::Send { chan, tid: t(seq), flags, data: Bytes::from(data) });
        let back = decode(&encode(&f)[4..]).unwrap();
        prop_assert!(same(&f, &back));
    }
}
