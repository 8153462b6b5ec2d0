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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip() {
        let t = Tid { node: 7, incarnation: 0xdead_beef, conn: 3, seq: 0x1_0000_0002 };
        assert_eq!(Tid::from_words(t.to_words()), t);
        assert_eq!(t.to_string(), "7,deadbeef,3,1,2,0,0");
    }
}
