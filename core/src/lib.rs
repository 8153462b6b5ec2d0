//! rtr-core: the whole of the Reliable Transaction Router except the C ABI
//! and the Python binding.
//!
//! Layout:
//! - [`keyseg`]: key segments, key ranges and routing by key;
//! - [`status`], [`error`], [`flags`], [`msgtype`], [`tid`]: the vocabulary of the RTR API;
//! - [`protocol`]: the messages between the application library and its node;
//! - [`facility`]: facility definitions (which nodes play which roles) and their file;
//! - [`txrecord`]: the transaction records in the journal: formats and the recovery classification;
//! - [`node`]: the node's roles (frontend, router, backend) as sans-I/O state machines;
//! - [`runtime`]: the node runtime: a node's thread, its inbox and the driver that does its I/O,
//!   for the embedded node and the node daemon alike ([`embedded`] keeps the older paths);
//! - [`transport`]: how a library connection reaches its node, and the links between nodes;
//! - [`api`]: the channel API used by the C ABI, the Python module and the CLI;
//! - [`info_class`], [`qualifier`]: the vocabulary of `rtr_request_info` and `rtr_set_info`;
//! - [`linger`]: how the library's and the node's threads poll briefly for an answer due soon;
//! - [`syscalls`]: counts of the socket, wait and sync system calls of each side, for `rtr bench`.

pub mod api;
pub mod authority;
pub mod error;
pub mod events;
pub mod facility;
pub(crate) mod fixed_hash;
pub mod flags;
pub mod histogram;
pub mod info_class;
pub mod journal;
pub mod keyseg;
pub mod linger;
pub mod log;
pub mod msgtype;
pub mod node;
pub mod protocol;
pub mod qualifier;
pub mod runtime;
pub mod sim;
pub mod status;
pub mod syscalls;
pub mod tid;
pub mod transport;
pub mod txrecord;

/// The node runtime's public items under their older path (the runtime was
/// `embedded.rs` before it served the daemon too): kept so that code using
/// `rtr_core::embedded::...` goes on compiling. New code uses [`runtime`].
pub mod embedded {
    pub use crate::runtime::{
        DeliverySink, EmbeddedConfig, EmbeddedNode, NodeLink, DEFAULT_JOURNAL_DIR, JOURNAL_DIR_ENV,
    };
}

pub use api::{Message, OpenParams, Received, Rtr, Which};
pub use error::{Result, RtrError};
pub use msgtype::MsgType;
pub use runtime::EmbeddedConfig;
pub use status::Status;
pub use tid::Tid;

/// Largest message in bytes (`RTR_MAX_MSGLEN`).
pub const MAX_MSGLEN: usize = 64_000;
/// Channels one process may have open (RTR's limit).
pub const MAX_CHANNELS: usize = 256;
/// Longest facility name (`RTR_MAX_FACNAM_LEN`).
pub const MAX_FACNAM_LEN: usize = 31;
/// Longest recipient name (`RTR_MAX_RCPNAM_LEN`); 32 is tolerated as in RTR V2.
pub const MAX_RCPNAM_LEN: usize = 31;
/// Longest data passed to `rtr_prepare_tx` (`RTR_MAX_BLOB_LEN`).
pub const MAX_BLOB_LEN: usize = 1024;
/// Longest broadcast recipient specification (`RTR_MAX_RCPSPC_LEN`).
pub const MAX_RCPSPC_LEN: usize = 255;
/// Longest access string (`RTR_MAX_ACCESS_LEN`).
pub const MAX_ACCESS_LEN: usize = 255;
/// The facility used when the application names none.
pub const DEFAULT_FACILITY: &str = "RTR$DEFAULT_FACILITY";
