//! The on-disk format: the segment header and the record encoding.
//!
//! Everything is little-endian. A segment file is
//!
//! ```text
//! 0      8        12      16        24      32     36            4096
//! | magic | version | flags | segment | epoch | crc | zeros ...... | records ...
//! ```
//!
//! `magic` is `b"RTRJRNL\0"`, `version` is [`FORMAT_VERSION`], `flags` is a
//! u32 whose bit 0 ([`HEADER_LOCKED`]) says that the owner held the
//! journal's OS lock when it wrote this header (other bits are zero; a
//! reader ignores them; headers written before the flag existed read as
//! "not locked", the cautious answer), `segment` is the segment's number
//! (the same as in its file name), `epoch` the owner epoch that created or
//! last recycled it, and `crc` the CRC32C of bytes 0..32. The header occupies the first [`HEADER_BYTES`]; records start after it.
//!
//! A record is
//!
//! ```text
//! | len u32 | crc u32 | epoch u64 | node u32 | incarnation u32 | conn u32 | seq u64 | kind u8 | payload |
//!                     \___________________________ body: len bytes ______________________________/
//! ```
//!
//! `len` counts the body (29 bytes + payload), so it is never zero and the
//! all-zero `len`+`crc` word unambiguously marks the end of data. `crc` is the
//! CRC32C of the body *seeded with the segment number* (the CRC of the
//! segment number's 8 little-endian bytes, extended with the body), so a record
//! left over from a recycled file's previous life never checks out in its new
//! life. Records never span segments.
//!
//! End of data: the writer always follows its last record with an 8-byte zero
//! word when at least 8 bytes remain in the segment, in the same write as the
//! records; fewer than 8 remaining bytes are zero (fresh files are zero-filled
//! and recycling zeroes the last 8 bytes). So a segment's data ends at the
//! first zero word, or where fewer than 8 zero bytes remain.
//!
//! Nothing here panics on any input: every decoder bounds-checks.

use crate::tid::Tid;

/// First eight bytes of every segment file.
pub const MAGIC: [u8; 8] = *b"RTRJRNL\0";
/// The only format version this code reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// Bytes reserved for the segment header; the first record starts here.
pub const HEADER_BYTES: u64 = 4096;
/// Bytes of the header that carry information (the rest of the block is zero).
pub const HEADER_USED: usize = 36;
/// The `len` + `crc` word that starts every record.
pub const WORD_BYTES: usize = 8;
/// Fixed part of a record body: epoch, tid (4+4+4+8) and kind.
pub const BODY_FIXED: usize = 8 + 20 + 1;
/// Bytes a record takes on disk besides its payload.
pub const RECORD_OVERHEAD: usize = WORD_BYTES + BODY_FIXED;
/// Payload of a Fence record: sealed epoch, seal segment, seal offset.
pub const FENCE_PAYLOAD: usize = 24;

/// What a record says. The journal interprets only `Fence` (written by the
/// journal itself) and `Done` (which releases a transaction's space); every
/// other payload is opaque bytes here (the node's formats: [`crate::txrecord`]).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordKind {
    Msg = 1,
    Vote = 2,
    Commit = 3,
    Abort = 4,
    Done = 5,
    Fence = 6,
    Exception = 7,
    Meta = 8,
    /// Every server applied a committed transaction, which stays answerable
    /// (its space pinned) until its router says every participant and the
    /// client have the outcome; `Done` follows then.
    Applied = 9,
    /// A message of a committed transaction that this node keeps durably
    /// for a key range it does not serve: recovery hands it on to the
    /// range's active partition instead of presenting it here.
    HandOn = 10,
    /// A transaction's answer restated at the head of the journal (an
    /// applied commit, or a rejection, that stays answerable): it releases
    /// every earlier segment the transaction pinned, so one never forgotten
    /// (its router was lost) does not hold the oldest segment for ever.
    /// Written only when the journal is full (`Backend::carry_forward`).
    Carried = 11,
    /// A promise to a later drive of the transaction (its frontend drives
    /// it again through another router): no earlier drive's router decides
    /// it here, after a restart too (`TxRecord::Drive`).
    Drive = 12,
    /// The node answered an inquiry about the transaction "unknown" (it held
    /// nothing of it): it starts no branch of the drives named from then
    /// on, after a restart too (`TxRecord::Bound`).
    Bound = 13,
    /// A shadow primary's number for a commit it remembers for its
    /// secondary, or a secondary's position in that log once it applied
    /// the entry (`TxRecord::Seq`, docs/shadow.md).
    Seq = 14,
    /// The message records of the transaction that follow restate all of
    /// its messages here: some earlier ones were refused by a full journal
    /// (`TxRecord::Restated`).
    Restated = 15,
}

impl RecordKind {
    pub fn from_u8(b: u8) -> Option<RecordKind> {
        Some(match b {
            1 => RecordKind::Msg,
            2 => RecordKind::Vote,
            3 => RecordKind::Commit,
            4 => RecordKind::Abort,
            5 => RecordKind::Done,
            6 => RecordKind::Fence,
            7 => RecordKind::Exception,
            8 => RecordKind::Meta,
            9 => RecordKind::Applied,
            10 => RecordKind::HandOn,
            11 => RecordKind::Carried,
            12 => RecordKind::Drive,
            13 => RecordKind::Bound,
            14 => RecordKind::Seq,
            15 => RecordKind::Restated,
            _ => return None,
        })
    }
}

/// One journal record as written and as recovered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The owner epoch of the process that wrote it.
    pub epoch: u64,
    pub tid: Tid,
    pub kind: RecordKind,
    pub payload: Vec<u8>,
}

/// The decoded segment header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    pub segment: u64,
    pub epoch: u64,
    /// Its owner held the journal's OS lock when it wrote the header (so
    /// it writes nothing more once another owner holds the lock).
    pub locked: bool,
}

/// Bit 0 of the header's flags: see [`SegmentHeader::locked`].
pub const HEADER_LOCKED: u32 = 1;

/// Why a header did not decode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// Shorter than a header, or all zeros: a segment whose creation did not finish.
    Blank,
    /// Our magic with a bad checksum: a header write that did not finish.
    BadChecksum,
    /// Not one of our files (nonzero bytes, no magic).
    UnknownMagic,
    /// One of our files, written by a format this code does not know.
    UnsupportedVersion(u32),
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderError::Blank => write!(f, "segment header is missing (blank or short file)"),
            HeaderError::BadChecksum => write!(f, "segment header checksum mismatch"),
            HeaderError::UnknownMagic => write!(f, "not an RTR journal segment (unknown magic)"),
            HeaderError::UnsupportedVersion(v) => {
                write!(f, "unsupported journal format version {v} (this build reads version {FORMAT_VERSION})")
            }
        }
    }
}

/// The sealing information a Fence record carries: the previous owner's
/// epoch and the end of its data (segment number and offset) as the new
/// owner found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Seal {
    pub epoch: u64,
    pub segment: u64,
    pub offset: u64,
}

impl Seal {
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(FENCE_PAYLOAD);
        v.extend_from_slice(&self.epoch.to_le_bytes());
        v.extend_from_slice(&self.segment.to_le_bytes());
        v.extend_from_slice(&self.offset.to_le_bytes());
        v
    }

    pub fn decode(payload: &[u8]) -> Option<Seal> {
        if payload.len() != FENCE_PAYLOAD {
            return None;
        }
        Some(Seal { epoch: le_u64(payload, 0)?, segment: le_u64(payload, 8)?, offset: le_u64(payload, 16)? })
    }
}

fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(s.try_into().ok()?))
}

fn le_u64(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(s.try_into().ok()?))
}

pub fn encode_header(h: &SegmentHeader) -> [u8; HEADER_USED] {
    let mut b = [0u8; HEADER_USED];
    b[0..8].copy_from_slice(&MAGIC);
    b[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    let flags = if h.locked { HEADER_LOCKED } else { 0 };
    b[12..16].copy_from_slice(&flags.to_le_bytes());
    b[16..24].copy_from_slice(&h.segment.to_le_bytes());
    b[24..32].copy_from_slice(&h.epoch.to_le_bytes());
    let crc = crc32c::crc32c(&b[0..32]);
    b[32..36].copy_from_slice(&crc.to_le_bytes());
    b
}

pub fn decode_header(b: &[u8]) -> Result<SegmentHeader, HeaderError> {
    let Some(h) = b.get(0..HEADER_USED) else {
        if b.get(0..8).is_some_and(|m| m != MAGIC && m.iter().any(|&x| x != 0)) {
            return Err(HeaderError::UnknownMagic);
        }
        return Err(HeaderError::Blank);
    };
    if h.iter().all(|&x| x == 0) {
        return Err(HeaderError::Blank);
    }
    if h[0..8] != MAGIC {
        return Err(HeaderError::UnknownMagic);
    }
    let (Some(version), Some(flags), Some(segment), Some(epoch), Some(crc)) =
        (le_u32(h, 8), le_u32(h, 12), le_u64(h, 16), le_u64(h, 24), le_u32(h, 32))
    else {
        return Err(HeaderError::Blank);
    };
    // Checksum before version: a torn header must read as torn, not as a
    // different version.
    if crc32c::crc32c(&h[0..32]) != crc {
        return Err(HeaderError::BadChecksum);
    }
    if version != FORMAT_VERSION {
        return Err(HeaderError::UnsupportedVersion(version));
    }
    Ok(SegmentHeader { segment, epoch, locked: flags & HEADER_LOCKED != 0 })
}

/// The CRC seed of a segment: records of one segment life check out only
/// under that segment's number.
pub fn seed(segment: u64) -> u32 {
    crc32c::crc32c(&segment.to_le_bytes())
}

/// Bytes `encode_record` appends for a payload of `payload_len` bytes.
pub fn record_bytes(payload_len: usize) -> usize {
    RECORD_OVERHEAD + payload_len
}

/// Appends one encoded record to `buf`. The caller guarantees
/// `BODY_FIXED + payload.len()` fits in a u32 (segments are far smaller).
pub fn encode_record(buf: &mut Vec<u8>, seed: u32, epoch: u64, tid: &Tid, kind: RecordKind, payload: &[u8]) {
    let start = buf.len();
    let len = (BODY_FIXED + payload.len()) as u32;
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(&[0u8; 4]);
    buf.extend_from_slice(&epoch.to_le_bytes());
    buf.extend_from_slice(&tid.node.to_le_bytes());
    buf.extend_from_slice(&tid.incarnation.to_le_bytes());
    buf.extend_from_slice(&tid.conn.to_le_bytes());
    buf.extend_from_slice(&tid.seq.to_le_bytes());
    buf.push(kind as u8);
    buf.extend_from_slice(payload);
    let crc = crc32c::crc32c_append(seed, &buf[start + WORD_BYTES..]);
    buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// The result of decoding at one offset.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// End of data: a zero word, or fewer than 8 remaining bytes, all zero.
    End,
    /// A valid record that took `bytes` bytes.
    Record { record: Record, bytes: usize },
    /// Not a valid record. `hard` is true when the checksum is good but the
    /// content is not understood (never the result of a torn write).
    Bad { why: String, hard: bool },
}

/// Decodes the record at the start of `data` (the rest of the segment from
/// the current offset) in the segment whose CRC seed is `seed`.
pub fn decode_record(seed: u32, data: &[u8]) -> Decoded {
    let soft = |why: String| Decoded::Bad { why, hard: false };
    let (Some(len), Some(crc)) = (le_u32(data, 0), le_u32(data, 4)) else {
        return if data.iter().all(|&b| b == 0) {
            Decoded::End
        } else {
            soft(format!("{} nonzero bytes too short for a record", data.len()))
        };
    };
    if len == 0 && crc == 0 {
        return Decoded::End;
    }
    let len = len as usize;
    if len < BODY_FIXED {
        return soft(format!("record length {len} is smaller than the {BODY_FIXED}-byte minimum"));
    }
    let Some(body) = data.get(WORD_BYTES..).and_then(|rest| rest.get(..len)) else {
        return soft(format!(
            "record length {len} runs past the end of the segment ({} bytes left)",
            data.len().saturating_sub(WORD_BYTES)
        ));
    };
    let actual = crc32c::crc32c_append(seed, body);
    if actual != crc {
        return soft(format!("checksum mismatch (stored {crc:#010x}, computed {actual:#010x})"));
    }
    let (Some(epoch), Some(node), Some(incarnation), Some(conn), Some(seq), Some(&kind_byte)) =
        (le_u64(body, 0), le_u32(body, 8), le_u32(body, 12), le_u32(body, 16), le_u64(body, 20), body.get(28))
    else {
        return soft("record body too short".into());
    };
    let hard = |why: String| Decoded::Bad { why, hard: true };
    let Some(kind) = RecordKind::from_u8(kind_byte) else {
        return hard(format!("unknown record kind {kind_byte} (checksum is valid)"));
    };
    let payload = body.get(BODY_FIXED..).unwrap_or_default().to_vec();
    if kind == RecordKind::Fence && Seal::decode(&payload).is_none() {
        return hard(format!("fence record with a {}-byte payload (expected {FENCE_PAYLOAD})", payload.len()));
    }
    Decoded::Record {
        record: Record { epoch, tid: Tid { node, incarnation, conn, seq }, kind, payload },
        bytes: WORD_BYTES + len,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tid(n: u64) -> Tid {
        Tid { node: 1, incarnation: 2, conn: 3, seq: n }
    }

    #[test]
    fn record_round_trip_and_layout() {
        let mut buf = Vec::new();
        encode_record(&mut buf, seed(7), 42, &tid(9), RecordKind::Vote, b"hello");
        assert_eq!(buf.len(), record_bytes(5));
        assert_eq!(u32::from_le_bytes(buf[0..4].try_into().unwrap()) as usize, BODY_FIXED + 5);
        assert_eq!(u64::from_le_bytes(buf[8..16].try_into().unwrap()), 42);
        assert_eq!(buf[36], RecordKind::Vote as u8);
        match decode_record(seed(7), &buf) {
            Decoded::Record { record, bytes } => {
                assert_eq!(bytes, buf.len());
                assert_eq!(
                    record,
                    Record { epoch: 42, tid: tid(9), kind: RecordKind::Vote, payload: b"hello".to_vec() }
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_record_from_another_segment_life_does_not_check_out() {
        let mut buf = Vec::new();
        encode_record(&mut buf, seed(7), 1, &tid(1), RecordKind::Msg, b"x");
        assert!(matches!(decode_record(seed(8), &buf), Decoded::Bad { hard: false, .. }));
    }

    #[test]
    fn an_empty_payload_record_is_never_the_end_marker() {
        let mut buf = Vec::new();
        encode_record(&mut buf, seed(1), 0, &Tid::default(), RecordKind::Done, b"");
        assert_ne!(&buf[0..8], &[0u8; 8]);
        assert!(matches!(decode_record(seed(1), &buf), Decoded::Record { .. }));
    }

    #[test]
    fn end_of_data() {
        assert_eq!(decode_record(seed(1), &[0u8; 100]), Decoded::End);
        assert_eq!(decode_record(seed(1), &[0u8; 5]), Decoded::End);
        assert_eq!(decode_record(seed(1), &[]), Decoded::End);
        assert!(matches!(decode_record(seed(1), &[0, 0, 1]), Decoded::Bad { hard: false, .. }));
    }

    #[test]
    fn unknown_kind_with_a_good_checksum_is_hard() {
        let mut buf = Vec::new();
        encode_record(&mut buf, seed(1), 0, &tid(1), RecordKind::Msg, b"");
        buf[36] = 99;
        let crc = crc32c::crc32c_append(seed(1), &buf[8..]);
        buf[4..8].copy_from_slice(&crc.to_le_bytes());
        assert!(matches!(decode_record(seed(1), &buf), Decoded::Bad { hard: true, .. }));
    }

    #[test]
    fn header_round_trip_and_refusals() {
        let h = SegmentHeader { segment: 12, epoch: 3, locked: true };
        let mut b = encode_header(&h).to_vec();
        assert_eq!(decode_header(&b), Ok(h));
        assert_eq!(b[12..16], HEADER_LOCKED.to_le_bytes());
        // Without the flag (as every header written before it existed): not locked.
        let unlocked = SegmentHeader { locked: false, ..h };
        assert_eq!(encode_header(&unlocked)[12..16], [0; 4]);
        assert_eq!(decode_header(&encode_header(&unlocked)), Ok(unlocked));
        assert_eq!(decode_header(&[0u8; 4096]), Err(HeaderError::Blank));
        assert_eq!(decode_header(&b[..10]), Err(HeaderError::Blank));
        b[20] ^= 1;
        assert_eq!(decode_header(&b), Err(HeaderError::BadChecksum));
        b[20] ^= 1;
        b[8] = 2;
        let crc = crc32c::crc32c(&b[0..32]);
        b[32..36].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(decode_header(&b), Err(HeaderError::UnsupportedVersion(2)));
        assert_eq!(decode_header(b"PK\x03\x04 some zip file......................"), Err(HeaderError::UnknownMagic));
    }

    #[test]
    fn seal_round_trip() {
        let s = Seal { epoch: 1, segment: 2, offset: 3 };
        assert_eq!(Seal::decode(&s.encode()), Some(s));
        assert_eq!(Seal::decode(&[0; 23]), None);
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200), s in any::<u64>()) {
            let _ = decode_record(seed(s), &data);
            let _ = decode_header(&data);
            let _ = Seal::decode(&data);
        }

        #[test]
        fn mutated_records_never_panic_and_never_decode_as_something_else(
            payload in proptest::collection::vec(any::<u8>(), 0..64),
            kind in 1u8..=9,
            flip in any::<usize>(),
            bit in 0u8..8,
            cut in any::<usize>(),
        ) {
            let kind = RecordKind::from_u8(kind).unwrap();
            let payload = if kind == RecordKind::Fence { Seal { epoch: 1, segment: 2, offset: 3 }.encode() } else { payload };
            let mut buf = Vec::new();
            encode_record(&mut buf, seed(5), 9, &tid(4), kind, &payload);
            let original = buf.clone();
            let i = flip % buf.len();
            buf[i] ^= 1 << bit;
            // A single bit flip is always caught by the CRC or the length check.
            let flipped = matches!(decode_record(seed(5), &buf), Decoded::Record { .. });
            prop_assert!(!flipped, "a bit flip at byte {} decoded as a record", i);
            let cut = cut % original.len();
            let short = matches!(decode_record(seed(5), &original[..cut]), Decoded::Record { .. });
            prop_assert!(!short, "a record cut at {} decoded", cut);
        }
    }
}
