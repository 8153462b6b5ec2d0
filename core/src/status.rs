//! RTR status values: one table, the single source of truth for the numeric
//! value, the C name and the message text of every status.
//!
//! Values follow the OpenVMS condition-value style that RTR programs grew up
//! with: the low three bits are the severity, so every success status is odd
//! and every failure even (`RTR_STS_OK` is 1). Legacy code that tests
//! `status & 1` therefore keeps working. The numbers themselves are ours (the
//! manuals give names and texts, not values); only the names are the
//! source-compatibility contract.
//!
//! The header generator (`xtask`) reads [`Status::ALL`] to write the
//! `RTR_STS_*` constants, so C, Rust and Python always agree.

/// Severity in the low three bits (OpenVMS convention).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Warning = 0,
    Success = 1,
    Error = 2,
    Info = 3,
    Fatal = 4,
}

macro_rules! statuses {
    ($( $(#[$doc:meta])* $variant:ident = ($n:expr, $sev:ident, $cname:literal, $text:literal), )*) => {
        /// Every status this implementation can return or deliver.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Status {
            $( $(#[$doc])* $variant, )*
        }

        impl Status {
            /// All statuses, in table order.
            pub const ALL: &'static [Status] = &[ $( Status::$variant, )* ];

            /// The numeric value returned through the C API.
            pub const fn code(self) -> i32 {
                match self {
                    $( Status::$variant => (($n as i32) << 3) | (Severity::$sev as i32), )*
                }
            }

            /// The C constant name, e.g. `RTR_STS_OK`.
            pub const fn name(self) -> &'static str {
                match self { $( Status::$variant => $cname, )* }
            }

            /// The message text (the SMM text without the `%RTR-s-NAME,` prefix).
            pub const fn text(self) -> &'static str {
                match self { $( Status::$variant => $text, )* }
            }

            pub const fn severity(self) -> Severity {
                match self { $( Status::$variant => Severity::$sev, )* }
            }
        }
    };
}

// Numbers are stable once released: append new statuses with new numbers,
// never renumber. `0` is reserved so that no status is zero.
statuses! {
    Ok = (0, Success, "RTR_STS_OK", "normal successful completion"),
    Timout = (1, Error, "RTR_STS_TIMOUT", "call to rtr_receive_message timed out, or the transaction timeout expired"),
    Nodstfnd = (2, Error, "RTR_STS_NODSTFND", "No destination found: no server is available for the key"),
    Jnlfull = (3, Error, "RTR_STS_JNLFULL", "Journal full"),
    Dlktxres = (4, Error, "RTR_STS_DLKTXRES", "Deadlock detected transaction rescheduled"),
    Invmsgfmt = (5, Fatal, "RTR_STS_INVMSGFMT", "Invalid msgfmt argument"),
    Invmsglen = (6, Fatal, "RTR_STS_INVMSGLEN", "Invalid msglen argument"),
    Invmsgsize = (7, Error, "RTR_STS_INVMSGSIZE", "signed and unsigned key data must be 1, 2, 4 or 8 bytes"),
    Invnumseg = (8, Fatal, "RTR_STS_INVNUMSEG", "Invalid numseg argument"),
    Invobjct = (9, Error, "RTR_STS_INVOBJCT", "Invalid object type for managed-object request"),
    Invop4cli = (10, Fatal, "RTR_STS_INVOP4CLI", "Invalid operation for client channel"),
    Invop4srv = (11, Fatal, "RTR_STS_INVOP4SRV", "Invalid operation for server channel"),
    Invpkeyseg = (12, Fatal, "RTR_STS_INVPKEYSEG", "Invalid pkeyseg argument"),
    Invrcpnam = (13, Fatal, "RTR_STS_INVRCPNAM", "Invalid rcpnam argument"),
    Invreason = (14, Fatal, "RTR_STS_INVREASON", "Invalid reason argument"),
    Invrmname = (15, Error, "RTR_STS_INVRMNAME", "Invalid resource manager name"),
    Invselitm = (16, Error, "RTR_STS_INVSELITM", "Invalid selitm argument"),
    Reqdied = (17, Error, "RTR_STS_REQDIED", "client exited, incomplete transaction aborted"),
    Reqdiedprep = (18, Error, "RTR_STS_REQDIEDPREP", "client exited after rtr_prepare_tx, transaction unresolved"),
    Reqdiedvot = (19, Error, "RTR_STS_REQDIEDVOT", "client exited after rtr_accept_tx, awaiting result"),
    Routerunavailtmo = (20, Error, "RTR_STS_ROUTERUNAVAILTMO", "transaction discarded: router unavailable for too long"),
    Replydiff = (21, Error, "RTR_STS_REPLYDIFF", "replies of replayed executions differ"),
    Invchannel = (22, Fatal, "RTR_STS_INVCHANNEL", "Invalid channel argument"),
    Invflags = (23, Fatal, "RTR_STS_INVFLAGS", "Invalid flags argument"),
    Invfacnam = (24, Fatal, "RTR_STS_INVFACNAM", "Invalid facnam argument"),
    Invaccess = (25, Fatal, "RTR_STS_INVACCESS", "Invalid access argument"),
    Invevtnum = (26, Fatal, "RTR_STS_INVEVTNUM", "Invalid evtnum argument"),
    Invpevtnum = (27, Fatal, "RTR_STS_INVPEVTNUM", "Invalid pevtnum argument"),
    Invrcpspc = (28, Fatal, "RTR_STS_INVRCPSPC", "Invalid rcpspc argument"),
    Invpmsg = (29, Fatal, "RTR_STS_INVPMSG", "Invalid pmsg argument"),
    Invrcvchan = (30, Fatal, "RTR_STS_INVRCVCHAN", "Invalid prcvchan argument"),
    Invtimoutms = (31, Fatal, "RTR_STS_INVTIMOUTMS", "Invalid timoutms argument"),
    Invpmsgsb = (32, Fatal, "RTR_STS_INVPMSGSB", "Invalid pmsgsb argument"),
    Invjoinchan = (33, Fatal, "RTR_STS_INVJOINCHAN", "Invalid joinchan argument"),
    Insvirmem = (34, Fatal, "RTR_STS_INSVIRMEM", "Insufficient virtual memory"),
    /// Extension: the process already has 256 channels open.
    Toomanychn = (35, Error, "RTR_STS_TOOMANYCHN", "Too many channels already opened (the limit is 256 per process)"),
    /// Extension: the call needs an active transaction and the channel has none.
    Notacttx = (36, Error, "RTR_STS_NOTACTTX", "No transaction active on this channel"),
    /// Extension: a send or vote after the client already accepted.
    Txalracc = (37, Error, "RTR_STS_TXALRACC", "Transaction already accepted"),
    /// Extension: `rtr_start_tx` while a transaction is active.
    Txactive = (38, Error, "RTR_STS_TXACTIVE", "A transaction is already active on this channel"),
    /// Extension: the message did not fit the receive buffer; it was truncated.
    Buftoosmall = (39, Error, "RTR_STS_BUFTOOSMALL", "Receive buffer too small: message truncated, msgsb.msglen holds its full length"),
    /// Extension: RTR closed the channel (`rtr_mt_closed` was received); only `rtr_close_channel` remains.
    Chanclosed = (40, Error, "RTR_STS_CHANCLOSED", "Channel closed by RTR; release it with rtr_close_channel"),
    /// Extension: a server's key range overlaps another partition without being equal to it.
    Keyoverlap = (41, Error, "RTR_STS_KEYOVERLAP", "Key range overlaps an existing partition of the facility"),
    /// Extension: a server's key layout (offsets, types, lengths) differs from the facility's.
    Keylayout = (42, Error, "RTR_STS_KEYLAYOUT", "Key segment layout differs from the other servers of the facility"),
    /// Extension: a client message too short to contain the key.
    Keymsgshort = (43, Error, "RTR_STS_KEYMSGSHORT", "Message is shorter than the key it must contain"),
    /// Extension: `RTR_F_OPE_NOCONCURRENT` conflicts with the partition's other servers.
    Noconcurrent = (44, Error, "RTR_STS_NOCONCURRENT", "Partition does not allow concurrent servers"),
    /// Extension: the transaction was rejected by one of its participants.
    Rejected = (45, Error, "RTR_STS_REJECTED", "Transaction rejected by a participant (see reason)"),
    /// Extension: the feature or flag is recognised but not supported by this implementation.
    Unsupported = (46, Error, "RTR_STS_UNSUPPORTED", "Feature not supported by this implementation"),
    /// Extension: the server serving the transaction went away and it could not be presented again.
    Srvdied = (47, Error, "RTR_STS_SRVDIED", "Server exited and the transaction could not be replayed"),
    /// Extension: the node (embedded or daemon) stopped or cannot be reached.
    Nodeunavail = (48, Fatal, "RTR_STS_NODEUNAVAIL", "RTR node not available"),
    /// Extension: an internal error (a bug); the call had no effect.
    Internal = (49, Fatal, "RTR_STS_INTERNAL", "Internal error in RTR (please report it)"),
    /// Extension: a required output pointer argument was NULL.
    Invptr = (50, Fatal, "RTR_STS_INVPTR", "Invalid (NULL) pointer argument"),
    /// Extension: a client channel on a facility for which this node is not a frontend.
    Notfrontend = (51, Error, "RTR_STS_NOTFRONTEND", "This node is not a frontend of the facility (see rtr show facility)"),
    /// Extension: a server channel on a facility for which this node is not a backend.
    Notbackend = (52, Error, "RTR_STS_NOTBACKEND", "This node is not a backend of the facility (see rtr show facility)"),
    /// Extension: the transaction made its servers fail as many times as the partition allows (the retry limit).
    Retrylimit = (53, Error, "RTR_STS_RETRYLIMIT", "Transaction rejected: its servers failed while processing it as often as the retry limit allows"),
    /// Extension: the key range is served on another node and a standby is not allowed there (`RTR_F_OPE_NOSTANDBY` on either side).
    Nostandby = (54, Error, "RTR_STS_NOSTANDBY", "Key range already served on another node, and RTR_F_OPE_NOSTANDBY forbids a standby"),
    /// Extension: `rtr_set_info` was given a set qualifier it does not know, a bad value for one, or qualifiers that conflict (or the partition's state does not allow the change).
    Invqualifier = (55, Error, "RTR_STS_INVQUALIFIER", "Invalid set qualifier or qualifier value for rtr_set_info"),
    /// Extension: a router call-out server on a facility for which this node is not a router.
    Notrouter = (56, Error, "RTR_STS_NOTROUTER", "This node is not a router of the facility (see rtr show facility)"),
}

impl Status {
    /// Look a status up by its numeric value.
    pub fn from_code(code: i32) -> Option<Status> {
        Status::ALL.iter().copied().find(|s| s.code() == code)
    }

    /// True for success statuses (odd values).
    pub const fn is_success(self) -> bool {
        self.code() & 1 == 1
    }
}

/// Text for any numeric status, known or not. Unknown values get a generic
/// text so callers never see an empty or NULL message.
pub fn text_for_code(code: i32) -> &'static str {
    match Status::from_code(code) {
        Some(s) => s.text(),
        None => "unknown RTR status",
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name(), self.text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ok_is_one_and_odd_means_success() {
        assert_eq!(Status::Ok.code(), 1);
        for s in Status::ALL {
            assert_eq!(s.is_success(), s.severity() == Severity::Success || s.severity() == Severity::Info, "{s:?}");
        }
    }

    #[test]
    fn codes_names_and_texts_are_unique_and_complete() {
        let mut codes = HashSet::new();
        let mut names = HashSet::new();
        for s in Status::ALL {
            assert!(codes.insert(s.code()), "duplicate code {s:?}");
            assert!(names.insert(s.name()), "duplicate name {s:?}");
            assert!(s.name().starts_with("RTR_STS_"));
            assert!(!s.text().is_empty());
            assert_eq!(Status::from_code(s.code()), Some(*s));
        }
        assert_eq!(text_for_code(0), "unknown RTR status");
        assert_eq!(text_for_code(-7), "unknown RTR status");
    }
}
