//! Transaction identifiers (`rtr_tid_t`, 7 x 32-bit words).
//!
//! A tid is unique across the facility and across restarts because it is
//! built from the node id, the node's incarnation (different at every start),
//! the library connection that started the transaction, and a per-connection
//! sequence number. The library allocates tids itself, so `rtr_get_tid` can
//! answer synchronously right after `rtr_start_tx`, and a late request that
//! names a finished tid can never start a new transaction by accident.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Tid {
    pub node: u32,
    pub incarnation: u32,
    pub conn: u32,
    pub seq: u64,
}

impl Tid {
    /// The seven words as they appear in the C `rtr_tid_t`.
    pub fn to_words(self) -> [u32; 7] {
        [self.node, self.incarnation, self.conn, (self.seq >> 32) as u32, self.seq as u32, 0, 0]
    }

    pub fn from_words(w: [u32; 7]) -> Tid {
        Tid { node: w[0], incarnation: w[1], conn: w[2], seq: (u64::from(w[3]) << 32) | u64::from(w[4]) }
    }
}

/// Printed as RTR prints tids: seven hex words separated by commas.
impl fmt::Display for Tid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = self.to_words();
        write!(f, "{:x},{:x},{:x},{:x},{:x},{:x},{:x}", w[0], w[1], w[2], w[3], w[4], w[5], w[6])
    }
}

/// Why a text is not a tid (see [`Tid`]'s `FromStr`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseTidError(pub String);

impl fmt::Display for ParseTidError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseTidError {}

/// Parses what `Display` prints: seven hex words (at most 8 digits each,
/// an optional `0x`) separated by commas, spaces around them allowed. The
/// last two words are always zero in the tids this implementation makes
/// (`to_words`): non-zero ones are refused, so that a parsed tid always
/// prints back as it was written.
impl std::str::FromStr for Tid {
    type Err = ParseTidError;

    fn from_str(s: &str) -> Result<Tid, ParseTidError> {
        let bad = |why: String| {
            ParseTidError(format!("{s:?} is not a tid ({why}); a tid is seven hex words joined by commas"))
        };
        let parts: Vec<&str> = s.split(',').map(str::trim).collect();
        if parts.len() != 7 {
            return Err(bad(format!("{} words", parts.len())));
        }
        let mut w = [0u32; 7];
        for (i, p) in parts.iter().enumerate() {
            let digits = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")).unwrap_or(p);
            if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad(format!("word {i} {p:?} is not a 32-bit hex number")));
            }
            w[i] = u32::from_str_radix(digits, 16).map_err(|e| bad(format!("word {i}: {e}")))?;
        }
        if w[5] != 0 || w[6] != 0 {
            return Err(bad("its last two words must be 0".into()));
        }
        Ok(Tid::from_words(w))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_it_prints() {
        let t = Tid { node: 7, incarnation: 0xdead_beef, conn: 3, seq: 0x1_0000_0002 };
        assert_eq!(t.to_string().parse::<Tid>(), Ok(t));
        assert_eq!(" 7, 0xDEADBEEF ,3,1,2,0,0".parse::<Tid>(), Ok(t));
        assert_eq!(Tid::default().to_string().parse::<Tid>(), Ok(Tid::default()));
    }

    #[test]
    fn refuses_what_is_not_a_tid() {
        for bad in [
            "",
            "1,2,3",
            "1,2,3,4,5,0,0,0",
            "1,2,3,4,5,0,1",
            "g,0,0,0,0,0,0",
            "100000000,0,0,0,0,0,0",
            "1,,0,0,0,0,0",
            "-1,0,0,0,0,0,0",
            "+1,0,0,0,0,0,0",
        ] {
            let e = bad.parse::<Tid>().unwrap_err();
            assert!(e.to_string().contains("is not a tid"), "{bad}: {e}");
        }
    }

    #[test]
    fn words_round_trip() {
        let t = Tid { node: 7, incarnation: 0xdead_beef, conn: 3, seq: 0x1_0000_0002 };
        assert_eq!(Tid::from_words(t.to_words()), t);
        assert_eq!(t.to_string(), "7,deadbeef,3,1,2,0,0");
    }
}
