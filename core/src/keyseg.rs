//! Key segments and key ranges.
//!
//! RTR routes each client message to a server partition by reading *key
//! segments* out of the message bytes. A server channel declares a key range
//! as up to [`MAX_NUMSEG`] segments; each segment has a type (unsigned
//! integer, signed integer or byte string), a length in bytes, an offset in the
//! message and inclusive low/high bounds. A message belongs to a range when,
//! for every segment, the key field at `[offset, offset + length)` lies within
//! `[low, high]`.
//!
//! * Numeric keys are C integers inside the message, so they are read in the
//!   **native** byte order of this machine; their length must be 1, 2, 4 or 8.
//! * String keys compare bytewise (lexicographically over exactly `length`
//!   bytes). A string bound shorter than the key length is NUL-padded.
//!
//! Bounds are decoded once at construction, so [`KeySegment::contains`] and
//! [`KeyRange::contains`] never allocate. Nothing in this module panics on
//! caller-supplied data.

use std::cmp::Ordering;
use std::fmt;

/// Maximum number of key segments in one key range.
pub const MAX_NUMSEG: usize = 20;

/// `offset + length` of a key segment may not exceed this (`RTR_MAX_MSGLEN`).
pub const MAX_KEY_OFFSET_END: usize = 64_000;

/// The type of a key segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// Unsigned integer in native byte order (1, 2, 4 or 8 bytes).
    Unsigned,
    /// Two's-complement signed integer in native byte order (1, 2, 4 or 8 bytes).
    Signed,
    /// Byte string compared lexicographically (any length from 1 byte).
    String,
}

impl KeyType {
    fn is_numeric(self) -> bool {
        matches!(self, KeyType::Unsigned | KeyType::Signed)
    }
}

impl fmt::Display for KeyType {
    /// `u`, `i` or `str` (the prefix used by [`KeyRange`]'s `Display`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyType::Unsigned => "u",
            KeyType::Signed => "i",
            KeyType::String => "str",
        })
    }
}

/// Errors from declaring a key range or reading a key from a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// numeric segment length not 1, 2, 4 or 8  (maps to RTR_STS_INVMSGSIZE)
    #[error("key segment {index}: numeric keys must be 1, 2, 4 or 8 bytes, not {length}")]
    BadNumericLength { index: usize, length: u32 },
    /// more than MAX_NUMSEG segments (maps to RTR_STS_INVNUMSEG)
    #[error("{count} key segments given; at most 20 are allowed")]
    TooManySegments { count: usize },
    /// any other bad segment: zero-length string, offset+length beyond 64000,
    /// bound longer than length, low > high (maps to RTR_STS_INVPKEYSEG)
    #[error("key segment {index}: {why}")]
    BadSegment { index: usize, why: String },
    /// message too short to contain the key (the router rejects it)
    #[error("message of {got} bytes is shorter than the key, which needs {needed} bytes")]
    MessageTooShort { needed: usize, got: usize },
}

/// Decoded, directly comparable bounds of one segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bounds {
    Unsigned {
        lo: u64,
        hi: u64,
    },
    Signed {
        lo: i64,
        hi: i64,
    },
    /// String bounds are compared as the normalised bound bytes themselves.
    String,
}

/// Reads a native-endian unsigned integer of 1, 2, 4 or 8 bytes, zero-extended.
fn decode_unsigned(bytes: &[u8]) -> Option<u64> {
    match *bytes {
        [a] => Some(u64::from(a)),
        [a, b] => Some(u64::from(u16::from_ne_bytes([a, b]))),
        [a, b, c, d] => Some(u64::from(u32::from_ne_bytes([a, b, c, d]))),
        [a, b, c, d, e, f, g, h] => Some(u64::from_ne_bytes([a, b, c, d, e, f, g, h])),
        _ => None,
    }
}

/// Reads a native-endian signed integer of 1, 2, 4 or 8 bytes, sign-extended.
fn decode_signed(bytes: &[u8]) -> Option<i64> {
    match *bytes {
        [a] => Some(i64::from(i8::from_ne_bytes([a]))),
        [a, b] => Some(i64::from(i16::from_ne_bytes([a, b]))),
        [a, b, c, d] => Some(i64::from(i32::from_ne_bytes([a, b, c, d]))),
        [a, b, c, d, e, f, g, h] => Some(i64::from_ne_bytes([a, b, c, d, e, f, g, h])),
        _ => None,
    }
}

/// Native-endian bytes of the minimum (`max == false`) or maximum value of a
/// numeric type of the given width. `None` for widths other than 1, 2, 4, 8.
fn numeric_extreme(key_type: KeyType, width: u32, max: bool) -> Option<Vec<u8>> {
    let bytes = match (key_type, width, max) {
        (KeyType::Unsigned, 1 | 2 | 4 | 8, false) => vec![0; width as usize],
        (KeyType::Unsigned, 1 | 2 | 4 | 8, true) => vec![0xFF; width as usize],
        (KeyType::Signed, 1, false) => i8::MIN.to_ne_bytes().to_vec(),
        (KeyType::Signed, 1, true) => i8::MAX.to_ne_bytes().to_vec(),
        (KeyType::Signed, 2, false) => i16::MIN.to_ne_bytes().to_vec(),
        (KeyType::Signed, 2, true) => i16::MAX.to_ne_bytes().to_vec(),
        (KeyType::Signed, 4, false) => i32::MIN.to_ne_bytes().to_vec(),
        (KeyType::Signed, 4, true) => i32::MAX.to_ne_bytes().to_vec(),
        (KeyType::Signed, 8, false) => i64::MIN.to_ne_bytes().to_vec(),
        (KeyType::Signed, 8, true) => i64::MAX.to_ne_bytes().to_vec(),
        _ => return None,
    };
    Some(bytes)
}

/// One segment as declared (bounds already normalised to exactly `length` bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySegment {
    key_type: KeyType,
    length: u32,
    offset: u32,
    /// `offset` as usize (cached for `contains`).
    start: usize,
    /// `offset + length` as usize (cached for `contains`); at most
    /// [`MAX_KEY_OFFSET_END`].
    end: usize,
    low: Vec<u8>,
    high: Vec<u8>,
    bounds: Bounds,
}

impl KeySegment {
    /// Declares one key segment.
    ///
    /// `low`/`high`: raw bound bytes as the C caller gave them (numeric:
    /// exactly `length` native-endian bytes; string: up to `length` bytes,
    /// NUL-padded). `None` means the type's minimum / maximum (unsigned
    /// `0..=max`, signed `min..=max`, string all-0x00..=all-0xFF).
    /// `index` is only used in error messages.
    ///
    /// Errors, checked in this order:
    /// * [`KeyError::BadNumericLength`] — numeric length not 1, 2, 4 or 8;
    /// * [`KeyError::BadSegment`] — zero-length string key, `offset + length`
    ///   beyond [`MAX_KEY_OFFSET_END`], a numeric bound that is not exactly
    ///   `length` bytes, a string bound longer than `length`, or low > high.
    pub fn new(
        index: usize,
        key_type: KeyType,
        length: u32,
        offset: u32,
        low: Option<&[u8]>,
        high: Option<&[u8]>,
    ) -> Result<Self, KeyError> {
        let bad = |why: String| KeyError::BadSegment { index, why };

        if key_type.is_numeric() && !matches!(length, 1 | 2 | 4 | 8) {
            return Err(KeyError::BadNumericLength { index, length });
        }
        if length == 0 {
            return Err(bad("string keys must be at least 1 byte long".to_owned()));
        }
        let end_u64 = u64::from(offset) + u64::from(length);
        let end = match usize::try_from(end_u64) {
            Ok(end) if end <= MAX_KEY_OFFSET_END => end,
            _ => {
                return Err(bad(format!(
                    "offset {offset} + length {length} = {end_u64} exceeds the maximum \
                     message length {MAX_KEY_OFFSET_END}"
                )))
            }
        };
        // Both fit: offset <= end <= MAX_KEY_OFFSET_END.
        let start = end - length as usize;
        let len = length as usize;

        let normalise = |which: &str, bound: Option<&[u8]>, max: bool| -> Result<Vec<u8>, KeyError> {
            match (key_type, bound) {
                (KeyType::String, None) => Ok(vec![if max { 0xFF } else { 0x00 }; len]),
                (KeyType::String, Some(b)) if b.len() > len => {
                    Err(bad(format!("{which} bound is {} bytes, longer than the key length {length}", b.len())))
                }
                (KeyType::String, Some(b)) => {
                    let mut v = Vec::with_capacity(len);
                    v.extend_from_slice(b);
                    v.resize(len, 0);
                    Ok(v)
                }
                (_, None) => numeric_extreme(key_type, length, max).ok_or(KeyError::BadNumericLength { index, length }),
                (_, Some(b)) if b.len() != len => Err(bad(format!(
                    "{which} bound is {} bytes; numeric bounds must be exactly the key length {length}",
                    b.len()
                ))),
                (_, Some(b)) => Ok(b.to_vec()),
            }
        };
        let low = normalise("low", low, false)?;
        let high = normalise("high", high, true)?;

        let bounds = match key_type {
            KeyType::Unsigned => match (decode_unsigned(&low), decode_unsigned(&high)) {
                (Some(lo), Some(hi)) => Bounds::Unsigned { lo, hi },
                _ => return Err(KeyError::BadNumericLength { index, length }),
            },
            KeyType::Signed => match (decode_signed(&low), decode_signed(&high)) {
                (Some(lo), Some(hi)) => Bounds::Signed { lo, hi },
                _ => return Err(KeyError::BadNumericLength { index, length }),
            },
            KeyType::String => Bounds::String,
        };

        let seg = KeySegment { key_type, length, offset, start, end, low, high, bounds };
        if seg.cmp_low_high() == Ordering::Greater {
            return Err(bad(format!(
                "low bound {} is greater than high bound {}",
                BoundDisplay(&seg, false),
                BoundDisplay(&seg, true)
            )));
        }
        Ok(seg)
    }

    /// Compares this segment's low bound with its high bound.
    fn cmp_low_high(&self) -> Ordering {
        match self.bounds {
            Bounds::Unsigned { lo, hi } => lo.cmp(&hi),
            Bounds::Signed { lo, hi } => lo.cmp(&hi),
            Bounds::String => self.low.cmp(&self.high),
        }
    }

    /// The segment's key type.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The key length in bytes.
    pub fn length(&self) -> u32 {
        self.length
    }

    /// The key's offset in the message.
    pub fn offset(&self) -> u32 {
        self.offset
    }

    /// The normalised low bound (exactly `length` bytes; native-endian for numeric keys).
    pub fn low(&self) -> &[u8] {
        &self.low
    }

    /// The normalised high bound (exactly `length` bytes; native-endian for numeric keys).
    pub fn high(&self) -> &[u8] {
        &self.high
    }

    /// `offset + length`: the message length needed to read this segment.
    fn end(&self) -> usize {
        self.end
    }

    /// Does this segment's range contain the key field of `msg`?
    ///
    /// [`KeyError::MessageTooShort`] if `msg.len() < offset + length`.
    /// Never allocates.
    pub fn contains(&self, msg: &[u8]) -> Result<bool, KeyError> {
        let field =
            msg.get(self.start..self.end).ok_or(KeyError::MessageTooShort { needed: self.end, got: msg.len() })?;
        Ok(self.field_in_range(field))
    }

    /// `field` is exactly `length` bytes (guaranteed by the callers).
    fn field_in_range(&self, field: &[u8]) -> bool {
        match self.bounds {
            // Decoding cannot fail: the field has the validated width.
            Bounds::Unsigned { lo, hi } => decode_unsigned(field).is_some_and(|v| lo <= v && v <= hi),
            Bounds::Signed { lo, hi } => decode_signed(field).is_some_and(|v| lo <= v && v <= hi),
            Bounds::String => self.low.as_slice() <= field && field <= self.high.as_slice(),
        }
    }

    /// Same type, length and offset.
    fn same_layout(&self, other: &KeySegment) -> bool {
        self.key_type == other.key_type && self.length == other.length && self.offset == other.offset
    }

    /// Do the intervals of two segments of the same layout intersect?
    fn intersects(&self, other: &KeySegment) -> bool {
        match (self.bounds, other.bounds) {
            (Bounds::Unsigned { lo: l1, hi: h1 }, Bounds::Unsigned { lo: l2, hi: h2 }) => l1.max(l2) <= h1.min(h2),
            (Bounds::Signed { lo: l1, hi: h1 }, Bounds::Signed { lo: l2, hi: h2 }) => l1.max(l2) <= h1.min(h2),
            (Bounds::String, Bounds::String) => {
                self.low.as_slice().max(other.low.as_slice()) <= self.high.as_slice().min(other.high.as_slice())
            }
            // Different types: not comparable; treated like a layout mismatch.
            _ => true,
        }
    }
}

/// Writes one bound of a segment: a decimal number, or a quoted, escaped
/// string with its trailing NUL padding left out.
struct BoundDisplay<'a>(&'a KeySegment, bool);

impl fmt::Display for BoundDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let BoundDisplay(seg, high) = *self;
        match seg.bounds {
            Bounds::Unsigned { lo, hi } => write!(f, "{}", if high { hi } else { lo }),
            Bounds::Signed { lo, hi } => write!(f, "{}", if high { hi } else { lo }),
            Bounds::String => {
                let bytes = if high { &seg.high } else { &seg.low };
                let shown = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
                f.write_str("\"")?;
                for &b in bytes.iter().take(shown) {
                    match b {
                        b'"' => f.write_str("\\\"")?,
                        b'\\' => f.write_str("\\\\")?,
                        0x20..=0x7E => write!(f, "{}", char::from(b))?,
                        _ => write!(f, "\\x{b:02x}")?,
                    }
                }
                f.write_str("\"")
            }
        }
    }
}

impl fmt::Display for KeySegment {
    /// `u32@0 [1..=99999]`, `i16@4 [-5..=5]`, `str8@10 ["abc"..="abd\xff"]`
    /// (the width is in bits for numbers and bytes for strings; string bounds
    /// are shown without their trailing NUL padding).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = if self.key_type.is_numeric() { u64::from(self.length) * 8 } else { u64::from(self.length) };
        write!(
            f,
            "{}{}@{} [{}..={}]",
            self.key_type,
            width,
            self.offset,
            BoundDisplay(self, false),
            BoundDisplay(self, true)
        )
    }
}

/// The layout of a key (types, lengths, offsets), without bounds. All servers
/// of a facility must share one layout.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KeyLayout(pub Vec<(KeyType, u32, u32)>); // (type, length, offset) per segment

/// A server's declared key range: 0..=20 segments. Zero segments means
/// "every message" (a facility without keys).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct KeyRange {
    segments: Vec<KeySegment>,
    /// Max of `offset + length` over the segments (0 if none).
    min_len: usize,
    /// The partition's name, from a `rtr_keyseg_partition` segment (named
    /// partitions); not part of the range itself.
    name: Option<String>,
}

/// Longest partition name (`rtr_keyseg_partition`).
pub const MAX_PARTITION_NAME: usize = 63;

/// A partition name by RTR's rules: 1 to 63 characters, a letter first,
/// then letters, digits, `+`, `_` and `$`; compared without regard to case
/// (kept as given).
pub fn partition_name(name: &str) -> Result<String, &'static str> {
    if name.is_empty() || name.len() > MAX_PARTITION_NAME {
        return Err("a partition name has 1 to 63 characters");
    }
    let mut chars = name.chars();
    if !chars.next().is_some_and(|c| c.is_ascii_alphabetic()) {
        return Err("a partition name starts with a letter");
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '_' | '$')) {
        return Err("a partition name has only letters, digits, '+', '_' and '$'");
    }
    Ok(name.to_string())
}

impl KeyRange {
    /// Builds a key range; [`KeyError::TooManySegments`] if more than
    /// [`MAX_NUMSEG`] segments are given.
    pub fn new(segments: Vec<KeySegment>) -> Result<Self, KeyError> {
        if segments.len() > MAX_NUMSEG {
            return Err(KeyError::TooManySegments { count: segments.len() });
        }
        let min_len = segments.iter().map(KeySegment::end).max().unwrap_or(0);
        Ok(KeyRange { segments, min_len, name: None })
    }

    /// The same range, naming its partition (`rtr_keyseg_partition`).
    pub fn named(mut self, name: Option<String>) -> KeyRange {
        self.name = name;
        self
    }

    /// The partition name the server gave, if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The segments, in declaration order.
    pub fn segments(&self) -> &[KeySegment] {
        &self.segments
    }

    /// The layout (type, length, offset of each segment).
    pub fn layout(&self) -> KeyLayout {
        KeyLayout(self.segments.iter().map(|s| (s.key_type, s.length, s.offset)).collect())
    }

    /// Minimum message length needed to read every segment (max of
    /// `offset + length`; 0 if no segments).
    pub fn min_message_len(&self) -> usize {
        self.min_len
    }

    /// True when every segment contains the message's key.
    ///
    /// The length check comes first: a message shorter than
    /// [`min_message_len`](Self::min_message_len) is always
    /// `Err(MessageTooShort { needed: min_message_len, .. })`, even if an
    /// earlier segment would already have excluded it. A range with no
    /// segments contains every message. Never allocates.
    pub fn contains(&self, msg: &[u8]) -> Result<bool, KeyError> {
        if msg.len() < self.min_len {
            return Err(KeyError::MessageTooShort { needed: self.min_len, got: msg.len() });
        }
        for seg in &self.segments {
            if !seg.contains(msg)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Same layout and identical bounds on every segment (servers of one partition).
    pub fn same_range(&self, other: &KeyRange) -> bool {
        self.segments == other.segments
    }

    /// Same layout as `other` (compared without building [`KeyLayout`]s).
    pub fn same_layout(&self, other: &KeyRange) -> bool {
        self.segments.len() == other.segments.len()
            && self.segments.iter().zip(&other.segments).all(|(a, b)| a.same_layout(b))
    }

    /// Two ranges of the same layout overlap when EVERY segment's intervals
    /// intersect (boundaries are inclusive, so `1..=10` and `10..=20`
    /// overlap).
    ///
    /// Ranges of *different* layouts (including different segment counts)
    /// always return `true`: they cannot be compared, and callers must
    /// detect and report a layout mismatch separately (e.g. with
    /// [`same_layout`](Self::same_layout) or [`layout`](Self::layout)).
    /// Two empty ranges overlap (both contain every message).
    pub fn overlaps(&self, other: &KeyRange) -> bool {
        if !self.same_layout(other) {
            return true;
        }
        self.segments.iter().zip(&other.segments).all(|(a, b)| a.intersects(b))
    }
}

impl fmt::Display for KeyRange {
    /// Segments joined by `", "`, e.g. `u32@0 [1..=99999], str4@8 ["ab"..="az"]`;
    /// an empty range prints `(all keys)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.segments.is_empty() {
            return f.write_str("(all keys)");
        }
        for (i, seg) in self.segments.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{seg}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // ---------- helpers ----------

    fn u(index: usize, length: u32, offset: u32, lo: u64, hi: u64) -> KeySegment {
        KeySegment::new(
            index,
            KeyType::Unsigned,
            length,
            offset,
            Some(&enc(length, i128::from(lo))),
            Some(&enc(length, i128::from(hi))),
        )
        .expect("valid unsigned segment")
    }

    fn s(index: usize, length: u32, offset: u32, lo: i64, hi: i64) -> KeySegment {
        KeySegment::new(
            index,
            KeyType::Signed,
            length,
            offset,
            Some(&enc(length, i128::from(lo))),
            Some(&enc(length, i128::from(hi))),
        )
        .expect("valid signed segment")
    }

    fn st(index: usize, length: u32, offset: u32, lo: &[u8], hi: &[u8]) -> KeySegment {
        KeySegment::new(index, KeyType::String, length, offset, Some(lo), Some(hi)).expect("valid string segment")
    }

    /// Native-endian encoding of `v` truncated to `width` bytes (two's
    /// complement), independent of the implementation's decoders.
    fn enc(width: u32, v: i128) -> Vec<u8> {
        let bytes = v.to_ne_bytes();
        let w = width as usize;
        if cfg!(target_endian = "little") {
            bytes[..w].to_vec()
        } else {
            bytes[16 - w..].to_vec()
        }
    }

    /// A message of `len` zero bytes with `field` written at `offset`.
    fn msg_with(len: usize, offset: usize, field: &[u8]) -> Vec<u8> {
        let mut m = vec![0u8; len];
        m[offset..offset + field.len()].copy_from_slice(field);
        m
    }

    fn range(segs: Vec<KeySegment>) -> KeyRange {
        KeyRange::new(segs).expect("valid range")
    }

    // ---------- unsigned ----------

    #[test]
    fn unsigned_all_widths_inclusive() {
        for (w, max) in [(1u32, 0xFFu64), (2, 0xFFFF), (4, 0xFFFF_FFFF), (8, u64::MAX)] {
            let seg = u(0, w, 3, 10, max - 1);
            let at = |v: u64| seg.contains(&msg_with(16, 3, &enc(w, i128::from(v))));
            assert_eq!(at(9), Ok(false), "w={w}");
            assert_eq!(at(10), Ok(true), "w={w}");
            assert_eq!(at(11), Ok(true), "w={w}");
            assert_eq!(at(max - 1), Ok(true), "w={w}");
            assert_eq!(at(max), Ok(false), "w={w}");
            assert_eq!(at(0), Ok(false), "w={w}");
        }
    }

    #[test]
    fn unsigned_high_values_are_not_negative() {
        // 0x80.. must compare as large unsigned values, not as negatives.
        let seg = u(0, 4, 0, 0, 100);
        assert_eq!(seg.contains(&0x8000_0000u32.to_ne_bytes()), Ok(false));
        let seg = u(0, 1, 0, 0x80, 0xFF);
        assert_eq!(seg.contains(&[0xFF]), Ok(true));
        assert_eq!(seg.contains(&[0x7F]), Ok(false));
    }

    #[test]
    fn unsigned_default_bounds() {
        for w in [1u32, 2, 4, 8] {
            let seg = KeySegment::new(0, KeyType::Unsigned, w, 0, None, None).unwrap();
            assert_eq!(seg.low(), vec![0u8; w as usize].as_slice());
            assert_eq!(seg.high(), vec![0xFFu8; w as usize].as_slice());
            assert_eq!(seg.contains(&vec![0u8; w as usize]), Ok(true));
            assert_eq!(seg.contains(&vec![0xFFu8; w as usize]), Ok(true));
        }
        // Only one bound defaulted.
        let seg = KeySegment::new(0, KeyType::Unsigned, 2, 0, Some(&500u16.to_ne_bytes()), None).unwrap();
        assert_eq!(seg.contains(&499u16.to_ne_bytes()), Ok(false));
        assert_eq!(seg.contains(&u16::MAX.to_ne_bytes()), Ok(true));
        let seg = KeySegment::new(0, KeyType::Unsigned, 2, 0, None, Some(&500u16.to_ne_bytes())).unwrap();
        assert_eq!(seg.contains(&0u16.to_ne_bytes()), Ok(true));
        assert_eq!(seg.contains(&501u16.to_ne_bytes()), Ok(false));
    }

    #[test]
    fn native_byte_order() {
        let seg = u(0, 4, 0, 1, 99_999);
        assert_eq!(seg.contains(&5u32.to_ne_bytes()), Ok(true));
        assert_eq!(seg.low(), 1u32.to_ne_bytes().as_slice());
        assert_eq!(seg.high(), 99_999u32.to_ne_bytes().as_slice());
        // The byte-swapped value of 5 is huge and outside.
        assert_eq!(seg.contains(&5u32.swap_bytes().to_ne_bytes()), Ok(false));
    }

    // ---------- signed ----------

    #[test]
    fn signed_all_widths_negative_bounds() {
        for w in [1u32, 2, 4, 8] {
            let seg = s(0, w, 1, -5, 5);
            let at = |v: i64| seg.contains(&msg_with(12, 1, &enc(w, i128::from(v))));
            assert_eq!(at(-6), Ok(false), "w={w}");
            assert_eq!(at(-5), Ok(true), "w={w}");
            assert_eq!(at(-1), Ok(true), "w={w}");
            assert_eq!(at(0), Ok(true), "w={w}");
            assert_eq!(at(5), Ok(true), "w={w}");
            assert_eq!(at(6), Ok(false), "w={w}");
        }
    }

    #[test]
    fn signed_extremes() {
        let seg = s(0, 8, 0, i64::MIN, i64::MAX);
        for v in [i64::MIN, -1, 0, 1, i64::MAX] {
            assert_eq!(seg.contains(&v.to_ne_bytes()), Ok(true));
        }
        let seg = s(0, 8, 0, i64::MIN, i64::MIN);
        assert_eq!(seg.contains(&i64::MIN.to_ne_bytes()), Ok(true));
        assert_eq!(seg.contains(&(i64::MIN + 1).to_ne_bytes()), Ok(false));
        let seg = s(0, 8, 0, i64::MAX, i64::MAX);
        assert_eq!(seg.contains(&i64::MAX.to_ne_bytes()), Ok(true));
        assert_eq!(seg.contains(&(i64::MAX - 1).to_ne_bytes()), Ok(false));
        let seg = s(0, 1, 0, i64::from(i8::MIN), -1);
        assert_eq!(seg.contains(&[0x80]), Ok(true));
        assert_eq!(seg.contains(&[0xFF]), Ok(true));
        assert_eq!(seg.contains(&[0x00]), Ok(false));
        assert_eq!(seg.contains(&[0x7F]), Ok(false));
    }

    #[test]
    fn signed_default_bounds() {
        for (w, min, max) in [
            (1u32, i128::from(i8::MIN), i128::from(i8::MAX)),
            (2, i128::from(i16::MIN), i128::from(i16::MAX)),
            (4, i128::from(i32::MIN), i128::from(i32::MAX)),
            (8, i128::from(i64::MIN), i128::from(i64::MAX)),
        ] {
            let seg = KeySegment::new(0, KeyType::Signed, w, 0, None, None).unwrap();
            assert_eq!(seg.low(), enc(w, min).as_slice());
            assert_eq!(seg.high(), enc(w, max).as_slice());
            assert_eq!(seg.contains(&enc(w, min)), Ok(true));
            assert_eq!(seg.contains(&enc(w, max)), Ok(true));
            assert_eq!(seg.contains(&enc(w, -1)), Ok(true));
        }
    }

    // ---------- strings ----------

    #[test]
    fn string_padding_and_order() {
        let seg = st(0, 4, 2, b"b", b"d");
        assert_eq!(seg.low(), b"b\0\0\0");
        assert_eq!(seg.high(), b"d\0\0\0");
        let at = |k: &[u8; 4]| seg.contains(&msg_with(8, 2, k));
        assert_eq!(at(b"b\0\0\0"), Ok(true)); // low inclusive
        assert_eq!(at(b"d\0\0\0"), Ok(true)); // high inclusive
        assert_eq!(at(b"d\0\0\x01"), Ok(false)); // just above high
        assert_eq!(at(b"a\xff\xff\xff"), Ok(false)); // just below low
        assert_eq!(at(b"czzz"), Ok(true));
        assert_eq!(at(b"bAAA"), Ok(true));
        assert_eq!(at(b"e\0\0\0"), Ok(false));
    }

    #[test]
    fn string_bytewise_unsigned_comparison() {
        let seg = st(0, 1, 0, b"\x7f", b"\xff");
        assert_eq!(seg.contains(b"\x80"), Ok(true));
        assert_eq!(seg.contains(b"\x00"), Ok(false));
    }

    #[test]
    fn string_default_and_full_length_bounds() {
        let seg = KeySegment::new(0, KeyType::String, 3, 0, None, None).unwrap();
        assert_eq!(seg.low(), b"\0\0\0");
        assert_eq!(seg.high(), b"\xff\xff\xff");
        assert_eq!(seg.contains(b"\0\0\0"), Ok(true));
        assert_eq!(seg.contains(b"\xff\xff\xff"), Ok(true));
        let seg = st(0, 3, 0, b"abc", b"abc");
        assert_eq!(seg.contains(b"abc"), Ok(true));
        assert_eq!(seg.contains(b"abd"), Ok(false));
        // Empty bound: all NULs.
        let seg = st(0, 2, 0, b"", b"");
        assert_eq!(seg.low(), b"\0\0");
        assert_eq!(seg.contains(b"\0\0"), Ok(true));
        assert_eq!(seg.contains(b"\0\x01"), Ok(false));
    }

    // ---------- errors ----------

    #[test]
    fn bad_numeric_length() {
        for t in [KeyType::Unsigned, KeyType::Signed] {
            for len in [0u32, 3, 5, 6, 7, 9, 16, u32::MAX] {
                assert_eq!(
                    KeySegment::new(7, t, len, 0, None, None),
                    Err(KeyError::BadNumericLength { index: 7, length: len })
                );
            }
        }
    }

    #[test]
    fn too_many_segments() {
        let segs: Vec<_> = (0..21).map(|i| u(i, 1, i as u32, 0, 255)).collect();
        assert_eq!(KeyRange::new(segs.clone()), Err(KeyError::TooManySegments { count: 21 }));
        let r = KeyRange::new(segs[..20].to_vec()).unwrap();
        assert_eq!(r.segments().len(), MAX_NUMSEG);
        assert_eq!(
            KeyError::TooManySegments { count: 21 }.to_string(),
            "21 key segments given; at most 20 are allowed"
        );
    }

    fn assert_bad_segment(r: Result<KeySegment, KeyError>, index: usize) {
        match r {
            Err(KeyError::BadSegment { index: i, why }) => {
                assert_eq!(i, index);
                assert!(!why.is_empty());
            }
            other => panic!("expected BadSegment, got {other:?}"),
        }
    }

    #[test]
    fn zero_length_string_rejected() {
        assert_bad_segment(KeySegment::new(2, KeyType::String, 0, 0, None, None), 2);
    }

    #[test]
    fn offset_end_limit() {
        // Exactly at the limit is fine.
        let seg = KeySegment::new(0, KeyType::Unsigned, 8, 63_992, None, None).unwrap();
        assert_eq!(seg.contains(&vec![0; 64_000]), Ok(true));
        KeySegment::new(0, KeyType::String, 64_000, 0, None, None).unwrap();
        // One past.
        assert_bad_segment(KeySegment::new(1, KeyType::Unsigned, 8, 63_993, None, None), 1);
        assert_bad_segment(KeySegment::new(1, KeyType::String, 64_001, 0, None, None), 1);
        assert_bad_segment(KeySegment::new(1, KeyType::String, 1, 64_000, None, None), 1);
        // No overflow on huge values.
        assert_bad_segment(KeySegment::new(3, KeyType::String, u32::MAX, u32::MAX, None, None), 3);
        assert_bad_segment(KeySegment::new(3, KeyType::Signed, 8, u32::MAX, None, None), 3);
    }

    #[test]
    fn bound_longer_than_length_rejected() {
        assert_bad_segment(KeySegment::new(4, KeyType::String, 2, 0, Some(b"abc"), None), 4);
        assert_bad_segment(KeySegment::new(4, KeyType::String, 2, 0, None, Some(b"abc")), 4);
        assert_bad_segment(KeySegment::new(4, KeyType::Unsigned, 2, 0, Some(&1u32.to_ne_bytes()), None), 4);
        assert_bad_segment(KeySegment::new(4, KeyType::Signed, 4, 0, None, Some(&1i64.to_ne_bytes())), 4);
        // Numeric bounds shorter than the key length are rejected too.
        assert_bad_segment(KeySegment::new(4, KeyType::Unsigned, 4, 0, Some(&[1]), None), 4);
    }

    #[test]
    fn low_greater_than_high_rejected() {
        let bad_u = KeySegment::new(5, KeyType::Unsigned, 4, 0, Some(&10u32.to_ne_bytes()), Some(&9u32.to_ne_bytes()));
        assert_bad_segment(bad_u, 5);
        let bad_s = KeySegment::new(5, KeyType::Signed, 2, 0, Some(&1i16.to_ne_bytes()), Some(&(-1i16).to_ne_bytes()));
        assert_bad_segment(bad_s, 5);
        assert_bad_segment(KeySegment::new(5, KeyType::String, 3, 0, Some(b"b"), Some(b"a")), 5);
        // Same bytes as the signed case, but unsigned: 1 <= 0xFFFF is fine.
        KeySegment::new(5, KeyType::Unsigned, 2, 0, Some(&1i16.to_ne_bytes()), Some(&(-1i16).to_ne_bytes())).unwrap();
        // low == high is fine.
        s(0, 4, 0, -3, -3);
    }

    #[test]
    fn message_too_short() {
        let seg = u(0, 4, 10, 0, 100);
        assert_eq!(seg.contains(&[0u8; 13]), Err(KeyError::MessageTooShort { needed: 14, got: 13 }));
        assert_eq!(seg.contains(&[0u8; 14]), Ok(true));
        assert_eq!(seg.contains(&[]), Err(KeyError::MessageTooShort { needed: 14, got: 0 }));

        // The range reports its overall minimum length, even when an earlier
        // segment would already exclude the message.
        let r = range(vec![u(0, 1, 0, 5, 5), st(1, 4, 20, b"a", b"z")]);
        assert_eq!(r.min_message_len(), 24);
        assert_eq!(r.contains(&[0u8; 23]), Err(KeyError::MessageTooShort { needed: 24, got: 23 }));
        let msg = KeyError::MessageTooShort { needed: 24, got: 23 }.to_string();
        assert!(msg.contains("24") && msg.contains("23"));
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            KeyError::BadNumericLength { index: 1, length: 3 }.to_string(),
            "key segment 1: numeric keys must be 1, 2, 4 or 8 bytes, not 3"
        );
        let e = KeySegment::new(2, KeyType::String, 0, 0, None, None).unwrap_err();
        assert!(e.to_string().starts_with("key segment 2: "), "{e}");
    }

    // ---------- ranges ----------

    #[test]
    fn offsets_and_multi_segment() {
        let r = range(vec![u(0, 2, 0, 100, 200), s(1, 4, 2, -10, 10), st(2, 3, 6, b"abc", b"abz")]);
        assert_eq!(r.min_message_len(), 9);
        let mut m = Vec::new();
        m.extend_from_slice(&150u16.to_ne_bytes());
        m.extend_from_slice(&(-10i32).to_ne_bytes());
        m.extend_from_slice(b"abq");
        assert_eq!(r.contains(&m), Ok(true));
        // Trailing payload is ignored.
        let mut longer = m.clone();
        longer.extend_from_slice(b"payload");
        assert_eq!(r.contains(&longer), Ok(true));
        // Each segment out of range in turn.
        let mut m1 = m.clone();
        m1[..2].copy_from_slice(&201u16.to_ne_bytes());
        assert_eq!(r.contains(&m1), Ok(false));
        let mut m2 = m.clone();
        m2[2..6].copy_from_slice(&11i32.to_ne_bytes());
        assert_eq!(r.contains(&m2), Ok(false));
        let mut m3 = m.clone();
        m3[6..9].copy_from_slice(b"ab{");
        assert_eq!(r.contains(&m3), Ok(false));

        assert_eq!(
            r.layout(),
            KeyLayout(vec![(KeyType::Unsigned, 2, 0), (KeyType::Signed, 4, 2), (KeyType::String, 3, 6),])
        );
        assert_eq!(r.segments()[1].key_type(), KeyType::Signed);
        assert_eq!(r.segments()[1].length(), 4);
        assert_eq!(r.segments()[1].offset(), 2);
    }

    #[test]
    fn overlapping_segments_in_one_key() {
        // Segments may overlap each other in the message (different views).
        let r = range(vec![u(0, 4, 0, 0, 1000), u(1, 1, 0, 0, 10)]);
        let inside = if cfg!(target_endian = "little") { 5u32 } else { 5u32 << 24 };
        assert_eq!(r.contains(&inside.to_ne_bytes()), Ok(cfg!(target_endian = "little")));
    }

    #[test]
    fn zero_segments_contains_everything() {
        let r = range(vec![]);
        assert_eq!(r.min_message_len(), 0);
        assert_eq!(r.contains(&[]), Ok(true));
        assert_eq!(r.contains(b"anything at all"), Ok(true));
        assert_eq!(r.layout(), KeyLayout(vec![]));
        assert_eq!(r, KeyRange::default());
        assert!(r.overlaps(&KeyRange::default()));
        assert!(r.same_range(&KeyRange::default()));
        assert_eq!(r.to_string(), "(all keys)");
    }

    #[test]
    fn overlaps_touching_boundaries() {
        let a = range(vec![u(0, 4, 0, 1, 10)]);
        let b = range(vec![u(0, 4, 0, 10, 20)]);
        let c = range(vec![u(0, 4, 0, 11, 20)]);
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&c) && !c.overlaps(&a));
        assert!(a.overlaps(&a));
        // Containment.
        let d = range(vec![u(0, 4, 0, 3, 4)]);
        assert!(a.overlaps(&d) && d.overlaps(&a));

        let sa = range(vec![s(0, 2, 0, -10, -1)]);
        let sb = range(vec![s(0, 2, 0, -1, 5)]);
        let sc = range(vec![s(0, 2, 0, 0, 5)]);
        assert!(sa.overlaps(&sb));
        assert!(!sa.overlaps(&sc));

        let ta = range(vec![st(0, 3, 0, b"a", b"m")]);
        let tb = range(vec![st(0, 3, 0, b"m", b"z")]);
        let tc = range(vec![st(0, 3, 0, b"m\0\x01", b"z")]);
        assert!(ta.overlaps(&tb));
        assert!(!ta.overlaps(&tc));
    }

    #[test]
    fn multi_segment_overlap_needs_all_segments() {
        let a = range(vec![u(0, 4, 0, 1, 10), u(1, 4, 4, 1, 10)]);
        let b = range(vec![u(0, 4, 0, 5, 15), u(1, 4, 4, 11, 20)]);
        let c = range(vec![u(0, 4, 0, 5, 15), u(1, 4, 4, 10, 20)]);
        assert!(!a.overlaps(&b) && !b.overlaps(&a));
        assert!(a.overlaps(&c) && c.overlaps(&a));
    }

    #[test]
    fn different_layouts_overlap() {
        let a = range(vec![u(0, 4, 0, 1, 10)]);
        let b = range(vec![u(0, 4, 4, 100, 200)]); // other offset
        let c = range(vec![s(0, 4, 0, 100, 200)]); // other type
        let d = range(vec![u(0, 8, 0, 100, 200)]); // other length
        let e = range(vec![u(0, 4, 0, 100, 200), u(1, 1, 4, 0, 0)]); // more segments
        for other in [&b, &c, &d, &e, &KeyRange::default()] {
            assert!(!a.same_layout(other));
            assert!(a.overlaps(other) && other.overlaps(&a));
            assert!(!a.same_range(other));
        }
    }

    #[test]
    fn same_range_cases() {
        let a = range(vec![u(0, 4, 0, 1, 10), st(1, 4, 4, b"a", b"b")]);
        // Index only affects error messages, and padding is normalised.
        let b = range(vec![u(5, 4, 0, 1, 10), st(9, 4, 4, b"a\0", b"b\0\0\0")]);
        assert!(a.same_range(&b) && b.same_range(&a));
        let c = range(vec![u(0, 4, 0, 1, 11), st(1, 4, 4, b"a", b"b")]);
        assert!(!a.same_range(&c));
        assert!(a.same_layout(&c));
        let d = range(vec![u(0, 4, 0, 1, 10)]);
        assert!(!a.same_range(&d));
    }

    #[test]
    fn display() {
        let r = range(vec![u(0, 4, 0, 1, 99_999), s(1, 2, 4, -5, 5), st(2, 6, 6, b"a\"b\\", b"z\x01\xff")]);
        assert_eq!(r.to_string(), r#"u32@0 [1..=99999], i16@4 [-5..=5], str6@6 ["a\"b\\"..="z\x01\xff"]"#);
        let r = range(vec![KeySegment::new(0, KeyType::String, 2, 0, None, None).unwrap()]);
        assert_eq!(r.to_string(), r#"str2@0 [""..="\xff\xff"]"#);
        let r = range(vec![KeySegment::new(0, KeyType::Signed, 1, 3, None, None).unwrap()]);
        assert_eq!(r.to_string(), "i8@3 [-128..=127]");
        let r = range(vec![KeySegment::new(0, KeyType::Unsigned, 8, 0, None, None).unwrap()]);
        assert_eq!(r.to_string(), "u64@0 [0..=18446744073709551615]");
    }

    // ---------- property tests ----------

    fn type_range(signed: bool, width: u32) -> (i128, i128) {
        let bits = width * 8;
        if signed {
            (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
        } else {
            (0, (1i128 << bits) - 1)
        }
    }

    /// A value of the type, biased towards the edges.
    fn value_in(signed: bool, width: u32) -> BoxedStrategy<i128> {
        let (min, max) = type_range(signed, width);
        prop_oneof![
            6 => min..=max,
            1 => Just(min),
            1 => Just(max),
            1 => Just(0i128),
            1 => (-3i128..=3).prop_map(move |v| v.clamp(min, max)),
        ]
        .boxed()
    }

    fn numeric_kind() -> impl Strategy<Value = (bool, u32)> {
        (any::<bool>(), prop::sample::select(vec![1u32, 2, 4, 8]))
    }

    fn num_seg(signed: bool, width: u32, offset: u32, lo: i128, hi: i128) -> Result<KeySegment, KeyError> {
        let t = if signed { KeyType::Signed } else { KeyType::Unsigned };
        KeySegment::new(0, t, width, offset, Some(&enc(width, lo)), Some(&enc(width, hi)))
    }

    /// Arbitrary (valid) segment: numeric or string, small offsets.
    fn any_segment() -> impl Strategy<Value = KeySegment> {
        let numeric = (numeric_kind(), 0u32..24).prop_flat_map(|((signed, w), off)| {
            (value_in(signed, w), value_in(signed, w))
                .prop_map(move |(a, b)| num_seg(signed, w, off, a.min(b), a.max(b)).expect("valid numeric segment"))
        });
        let string = (1u32..6, 0u32..24).prop_flat_map(|(len, off)| {
            let l = len as usize;
            (prop::collection::vec(any::<u8>(), 0..=l), prop::collection::vec(any::<u8>(), 0..=l)).prop_map(
                move |(a, b)| {
                    let (mut a, mut b) = (a, b);
                    a.resize(l, 0);
                    b.resize(l, 0);
                    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                    st(0, len, off, &lo, &hi)
                },
            )
        });
        prop_oneof![numeric, string]
    }

    fn any_range() -> impl Strategy<Value = KeyRange> {
        prop::collection::vec(any_segment(), 0..4).prop_map(range)
    }

    proptest! {
        #[test]
        fn prop_numeric_contains_matches_i128(
            ((signed, w), lo, hi, v, off) in numeric_kind().prop_flat_map(|(signed, w)| (
                Just((signed, w)),
                value_in(signed, w),
                value_in(signed, w),
                value_in(signed, w),
                0u32..8,
            ))
        ) {
            let seg = num_seg(signed, w, off, lo, hi);
            if lo > hi {
                let is_bad_segment = matches!(seg, Err(KeyError::BadSegment { .. }));
                prop_assert!(is_bad_segment, "{seg:?}");
            } else {
                let seg = seg.expect("valid");
                let m = msg_with(off as usize + w as usize + 3, off as usize, &enc(w, v));
                prop_assert_eq!(seg.contains(&m), Ok(lo <= v && v <= hi));
                let r = range(vec![seg]);
                prop_assert_eq!(r.contains(&m), Ok(lo <= v && v <= hi));
            }
        }

        #[test]
        fn prop_string_contains_matches_reference(
            len in 1usize..6,
            lo in prop::collection::vec(any::<u8>(), 0..6),
            hi in prop::collection::vec(any::<u8>(), 0..6),
            key in prop::collection::vec(prop::sample::select(vec![0u8, 1, b'a', b'b', 0xFE, 0xFF]), 6),
        ) {
            let seg = KeySegment::new(0, KeyType::String, len as u32, 0, Some(&lo), Some(&hi));
            if lo.len() > len || hi.len() > len {
                let is_bad_segment = matches!(seg, Err(KeyError::BadSegment { .. }));
                prop_assert!(is_bad_segment);
                return Ok(());
            }
            let (mut plo, mut phi) = (lo.clone(), hi.clone());
            plo.resize(len, 0);
            phi.resize(len, 0);
            if plo > phi {
                let is_bad_segment = matches!(seg, Err(KeyError::BadSegment { .. }));
                prop_assert!(is_bad_segment);
                return Ok(());
            }
            let seg = seg.expect("valid");
            let field = &key[..len];
            prop_assert_eq!(seg.contains(&key), Ok(plo.as_slice() <= field && field <= phi.as_slice()));
        }

        #[test]
        fn prop_overlaps_symmetric(a in any_range(), b in any_range()) {
            prop_assert_eq!(a.overlaps(&b), b.overlaps(&a));
            prop_assert!(a.overlaps(&a));
            prop_assert!(a.same_range(&a));
            prop_assert_eq!(a.same_range(&b), b.same_range(&a));
        }

        #[test]
        fn prop_single_segment_overlap_iff_common_value(
            ((signed, w), a1, a2, b1, b2) in numeric_kind().prop_flat_map(|(signed, w)| (
                Just((signed, w)),
                value_in(signed, w),
                value_in(signed, w),
                value_in(signed, w),
                value_in(signed, w),
            ))
        ) {
            let (alo, ahi) = (a1.min(a2), a1.max(a2));
            let (blo, bhi) = (b1.min(b2), b1.max(b2));
            let a = range(vec![num_seg(signed, w, 0, alo, ahi).expect("valid")]);
            let b = range(vec![num_seg(signed, w, 0, blo, bhi).expect("valid")]);
            let common_lo = alo.max(blo);
            let expected = common_lo <= ahi.min(bhi);
            prop_assert_eq!(a.overlaps(&b), expected);
            prop_assert_eq!(b.overlaps(&a), expected);
            // A witness message lies in both exactly when they overlap.
            let witness = enc(w, common_lo);
            prop_assert_eq!(
                a.contains(&witness).expect("long enough") && b.contains(&witness).expect("long enough"),
                expected
            );
        }

        #[test]
        fn prop_contains_never_panics(
            r in any_range(),
            msg in prop::collection::vec(any::<u8>(), 0..40),
        ) {
            let res = r.contains(&msg);
            if msg.len() < r.min_message_len() {
                prop_assert_eq!(res, Err(KeyError::MessageTooShort { needed: r.min_message_len(), got: msg.len() }));
            } else {
                let all = r.segments().iter().all(|s| s.contains(&msg) == Ok(true));
                prop_assert_eq!(res, Ok(all));
            }
            // Display never panics either.
            let _ = r.to_string();
        }

        #[test]
        fn prop_new_never_panics(
            t in prop::sample::select(vec![KeyType::Unsigned, KeyType::Signed, KeyType::String]),
            length in prop_oneof![0u32..12, Just(u32::MAX), 63_990u32..64_010],
            offset in prop_oneof![0u32..12, Just(u32::MAX), 63_990u32..64_010],
            lo in prop::option::of(prop::collection::vec(any::<u8>(), 0..12)),
            hi in prop::option::of(prop::collection::vec(any::<u8>(), 0..12)),
        ) {
            if let Ok(seg) = KeySegment::new(1, t, length, offset, lo.as_deref(), hi.as_deref()) {
                prop_assert_eq!(seg.low().len(), length as usize);
                prop_assert_eq!(seg.high().len(), length as usize);
                prop_assert!(offset as usize + length as usize <= MAX_KEY_OFFSET_END);
                let _ = seg.contains(&[0u8; 16]);
            }
        }
    }
}
