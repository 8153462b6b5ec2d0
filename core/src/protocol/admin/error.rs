//! Why a node refused a management request: one typed error, and the one
//! table that gives each kind its RTR-style code (`%RTR-E-NOSUCHPRT`, the
//! `code` of `--json` answers), the status the C API reports for it
//! (`rtr_set_info`'s and `rtr_request_info`'s `rtr_mt_closed`), and its
//! tag on the wire.
//!
//! The kind crosses the wire as its tag, never as its code text, so no
//! side matches strings to learn what went wrong. Tags and codes are
//! stable once released: append new kinds with new tags.

use crate::status::Status;

macro_rules! refusals {
    ($( $(#[$doc:meta])* $variant:ident = ($tag:expr, $code:literal, $status:ident), )*) => {
        /// A node's refusal; the text says what and why, for a person.
        #[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
        pub enum AdminError {
            $( $(#[$doc])* #[error("{0}")] $variant(String), )*
        }

        impl AdminError {
            /// The RTR-style code (`NOSUCHPRT`), as `%RTR-E-CODE` prints it.
            pub fn code(&self) -> &'static str {
                match self { $( AdminError::$variant(_) => $code, )* }
            }

            /// The status the C API reports for this refusal.
            pub fn status(&self) -> Status {
                match self { $( AdminError::$variant(_) => Status::$status, )* }
            }

            /// The text for a person.
            pub fn message(&self) -> &str {
                match self { $( AdminError::$variant(m) => m, )* }
            }

            /// The same kind with another text (cut to the wire's limit).
            pub fn with_message(&self, message: String) -> AdminError {
                let message = super::clip(message, super::MAX_TEXT);
                match self { $( AdminError::$variant(_) => AdminError::$variant(message), )* }
            }

            pub(super) fn tag(&self) -> u8 {
                match self { $( AdminError::$variant(_) => $tag, )* }
            }

            /// The kind for a wire tag, with its text; `None`: unknown tag.
            pub(super) fn from_tag(tag: u8, message: String) -> Option<AdminError> {
                match tag { $( $tag => Some(AdminError::$variant(message)), )* _ => None }
            }

            /// One of each kind (empty texts), in table order.
            pub fn all() -> Vec<AdminError> {
                vec![ $( AdminError::$variant(String::new()), )* ]
            }
        }
    };
}

refusals! {
    /// No such partition of that facility on this node.
    NoSuchPartition = (1, "NOSUCHPRT", Invobjct),
    /// No such facility defined on this node.
    NoSuchFacility = (2, "NOSUCHFAC", Invobjct),
    /// The request is not of the kind asked for (a view asked to change).
    InvalidObject = (3, "INVOBJCT", Invobjct),
    /// `--ignore-recovery`/`--restart-recovery` on a partition waiting for no journal.
    NotRecovering = (4, "NOTRECOVERING", Invqualifier),
    /// A retry limit of 0.
    InvalidRetry = (5, "INVRETRY", Invqualifier),
    /// A node name that breaks the naming rules.
    InvalidNodeName = (6, "INVNODNAM", Invqualifier),
    /// A node named twice in one list.
    DuplicateNodeName = (7, "DUPNODNAM", Invqualifier),
    /// `rtr set transaction` on a transaction not set aside here.
    NoSuchTransaction = (8, "NOSUCHTX", Invobjct),
    /// The transaction was set aside before its outcome was known.
    TxUndecided = (9, "TXUNDECIDED", Invqualifier),
    /// `--retry` of a rejected transaction: nothing to present.
    TxRejected = (10, "TXREJECTED", Invqualifier),
    /// Recognised but not supported (an embedded node keeps no definitions).
    Unsupported = (11, "UNSUPPORTED", Unsupported),
    /// The node stopped or cannot be reached.
    NodeUnavailable = (12, "NODEUNAVAIL", Nodeunavail),
    /// The node did not answer in time.
    Timeout = (13, "TIMOUT", Timout),
    /// A bug.
    Internal = (14, "INTERNAL", Internal),
    /// A facility name that breaks the naming rules.
    InvalidFacilityName = (15, "INVFACNAM", Invfacnam),
    /// A facility definition without a router.
    NoRouter = (16, "NOROUTER", Invqualifier),
    /// A facility definition without a backend.
    NoBackend = (17, "NOBACKEND", Invqualifier),
    /// `create facility` of a name already defined.
    FacilityExists = (18, "FACEXISTS", Invqualifier),
    /// The facility definitions file cannot be read as such.
    BadFacilityFile = (19, "BADFACFILE", Internal),
    /// The facility definitions could not be saved.
    FacilitySaveFailed = (20, "FACSAVEFAIL", Internal),
    /// An operator request from a process that is no operator of the node
    /// (README: Security): "insufficient privilege"; `RTR_STS_INVACCESS` is
    /// the closest RTR status (access refused).
    NotOperator = (21, "INSVPRIV", Invaccess),
    /// A facility definition that calls for links this node may not open:
    /// it has neither TLS nor `--insecure-links` (issue 17, secure by
    /// default); access to the network is what is refused.
    LinksNotSecured = (22, "TLSREQUIRED", Invaccess),
    /// A state change the object's state does not allow now (RTR's
    /// `%RTR-E-INVSTATCHANGE`): `PRI_DONE` anywhere but at a shadow primary
    /// running alone.
    InvalidStateChange = (23, "INVSTATCHANGE", Invqualifier),
}

impl From<&crate::facility::FacilityError> for AdminError {
    fn from(e: &crate::facility::FacilityError) -> AdminError {
        use crate::facility::FacilityError as F;
        let m = e.to_string();
        match e {
            F::InvalidName { .. } => AdminError::InvalidFacilityName(m),
            F::InvalidNode { .. } => AdminError::InvalidNodeName(m),
            F::DuplicateNode { .. } => AdminError::DuplicateNodeName(m),
            F::NoRouter => AdminError::NoRouter(m),
            F::NoBackend => AdminError::NoBackend(m),
            F::Exists(_) => AdminError::FacilityExists(m),
            F::NotFound(_) => AdminError::NoSuchFacility(m),
            F::BadFile { .. } => AdminError::BadFacilityFile(m),
            F::Io(_) => AdminError::FacilitySaveFailed(m),
        }
    }
}

impl AdminError {
    /// Partition `id` of `facility` is not on the node asked.
    pub fn no_partition(facility: &str, id: u64) -> AdminError {
        AdminError::NoSuchPartition(format!("no partition {id} in facility {facility} on this node"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn tags_and_codes_are_unique_and_round_trip() {
        let (mut tags, mut codes) = (HashSet::new(), HashSet::new());
        for e in AdminError::all() {
            assert!(tags.insert(e.tag()), "duplicate tag {e:?}");
            assert!(codes.insert(e.code()), "duplicate code {e:?}");
            assert_eq!(AdminError::from_tag(e.tag(), "why".into()), Some(e.with_message("why".into())));
        }
        assert_eq!(AdminError::from_tag(0, String::new()), None);
        assert_eq!(AdminError::from_tag(200, String::new()), None);
    }

    #[test]
    fn each_kind_has_its_status() {
        let status = |e: AdminError| e.status();
        assert_eq!(status(AdminError::NoSuchPartition("x".into())), Status::Invobjct);
        assert_eq!(status(AdminError::NotRecovering("x".into())), Status::Invqualifier);
        assert_eq!(status(AdminError::NodeUnavailable("x".into())), Status::Nodeunavail);
        assert_eq!(status(AdminError::Timeout("x".into())), Status::Timout);
        assert_eq!(status(AdminError::Unsupported("x".into())), Status::Unsupported);
        assert_eq!(status(AdminError::InvalidFacilityName("x".into())), Status::Invfacnam);
        // A person's text is only text: it never changes the status.
        assert_eq!(status(AdminError::Internal("NOSUCHPRT".into())), Status::Internal);
        // INTERNAL only where the caller's arguments are not at fault.
        let internal: Vec<_> =
            AdminError::all().into_iter().filter(|e| e.status() == Status::Internal).map(|e| e.code()).collect();
        assert_eq!(internal, ["INTERNAL", "BADFACFILE", "FACSAVEFAIL"]);
    }
}
