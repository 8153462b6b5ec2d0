//! Message types delivered by `rtr_receive_message` (`rtr_msg_type_t`).
//!
//! The numeric values are ours (the manuals give only names); the header
//! generator writes the C enum from [`MsgType::ALL`].

macro_rules! msgtypes {
    ($( $(#[$doc:meta])* $variant:ident = ($n:expr, $cname:literal), )*) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum MsgType { $( $(#[$doc])* $variant = $n, )* }

        impl MsgType {
            pub const ALL: &'static [MsgType] = &[ $( MsgType::$variant, )* ];
            /// The C enumerator name, e.g. `rtr_mt_msg1`.
            pub const fn name(self) -> &'static str {
                match self { $( MsgType::$variant => $cname, )* }
            }
            pub const fn code(self) -> u32 { self as u32 }
            pub fn from_code(code: u32) -> Option<MsgType> {
                MsgType::ALL.iter().copied().find(|m| m.code() == code)
            }
        }
    };
}

msgtypes! {
    /// A server's first message of a transaction.
    Msg1 = (1, "rtr_mt_msg1"),
    /// A later message of the same transaction.
    Msgn = (2, "rtr_mt_msgn"),
    /// A replayed transaction whose earlier delivery may have been applied.
    Msg1Uncertain = (3, "rtr_mt_msg1_uncertain"),
    /// Vote request to a server opened with `RTR_F_OPE_EXPLICIT_PREPARE`.
    Prepare = (4, "rtr_mt_prepare"),
    /// A server's reply, delivered to the client.
    Reply = (5, "rtr_mt_reply"),
    /// An undeliverable message returned to its sender.
    Rettosend = (6, "rtr_mt_rettosend"),
    /// The transaction committed.
    Accepted = (7, "rtr_mt_accepted"),
    /// The transaction aborted; the data says why.
    Rejected = (8, "rtr_mt_rejected"),
    /// The channel is open.
    Opened = (9, "rtr_mt_opened"),
    /// The channel was closed (or could not be opened); the data says why.
    Closed = (10, "rtr_mt_closed"),
    /// All servers voted yes after `rtr_prepare_tx`.
    Prepared = (11, "rtr_mt_prepared"),
    /// A user broadcast.
    UserEvent = (12, "rtr_mt_user_event"),
    /// An RTR broadcast.
    RtrEvent = (13, "rtr_mt_rtr_event"),
    /// A `rtr_request_info` result record.
    RequestInfo = (14, "rtr_mt_request_info"),
    /// A `rtr_set_info` intermediate answer.
    SetInfo = (15, "rtr_mt_set_info"),
}

impl MsgType {
    /// Types whose data is an `rtr_status_data_t` (status, reason).
    pub const fn carries_status(self) -> bool {
        matches!(self, MsgType::Opened | MsgType::Closed | MsgType::Accepted | MsgType::Rejected | MsgType::Prepared)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_nonzero() {
        for m in MsgType::ALL {
            assert_ne!(m.code(), 0);
            assert_eq!(MsgType::from_code(m.code()), Some(*m));
            assert!(m.name().starts_with("rtr_mt_"));
        }
        assert_eq!(MsgType::from_code(0), None);
    }
}
