//! The one error type of rtr-core. Every variant maps to exactly one RTR
//! status in [`RtrError::status`]; the C and Python layers use that mapping
//! and the `Display` text, nothing else.

use crate::keyseg::KeyError;
use crate::status::Status;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RtrError {
    #[error("channel {0} is not an open channel of this process")]
    InvalidChannel(u32),
    #[error("flags {flags:#x} are not valid for {call}")]
    InvalidFlags { call: &'static str, flags: u32 },
    #[error("{flag} is not supported by this implementation ({why})")]
    Unsupported { flag: &'static str, why: &'static str },
    #[error("invalid facility name: {0}")]
    InvalidFacility(String),
    #[error("invalid recipient name: {0}")]
    InvalidRecipient(String),
    #[error("invalid access string: {0}")]
    InvalidAccess(String),
    #[error("invalid event list: {0}")]
    InvalidEventList(String),
    #[error("event number {0} is not a user event (0 to 250)")]
    InvalidEvent(i32),
    #[error("invalid recipient specification: {0}")]
    InvalidRecipientSpec(String),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("client channels take no key segments (numseg must be 0)")]
    KeysOnClient,
    #[error("invalid partition name (rtr_keyseg_partition): {0}")]
    InvalidPartitionName(String),
    #[error("message length {len} is invalid (0 to 64000 bytes)")]
    InvalidMsgLen { len: usize },
    #[error("{call} is not valid on a server channel")]
    ServerChannel { call: &'static str },
    #[error("{call} is not valid on a client channel")]
    ClientChannel { call: &'static str },
    #[error("no transaction is active on channel {0}")]
    NoTransaction(u32),
    #[error("the transaction on channel {0} is already accepted")]
    AlreadyAccepted(u32),
    #[error("the transaction on channel {0} is prepared: accept or reject it")]
    AlreadyPrepared(u32),
    #[error("a transaction is already active on channel {0}")]
    TxActive(u32),
    #[error("too many channels: at most 256 may be open in one process")]
    TooManyChannels,
    #[error("channel {0} was closed by RTR; close it with rtr_close_channel")]
    ChannelClosed(u32),
    #[error("no message arrived before the timeout")]
    Timeout,
    #[error("the message of {needed} bytes was truncated to the {given}-byte buffer")]
    BufferTooSmall { needed: usize, given: usize },
    #[error("invalid list of channels to receive from: {0}")]
    InvalidReceiveList(String),
    #[error("required pointer argument {0} is NULL")]
    NullPointer(&'static str),
    #[error("invalid timeout: {0}")]
    InvalidTimeout(String),
    #[error("join channels are not supported: pass RTR_NO_JOINCHAN")]
    InvalidJoin,
    #[error("invalid information request: {0}")]
    InvalidSelItem(String),
    #[error("invalid managed object: {0}")]
    InvalidObject(String),
    #[error("invalid set qualifier: {0}")]
    InvalidQualifier(String),
    #[error("{call} is not valid on channel {chan}, an information channel (rtr_request_info or rtr_set_info): only rtr_receive_message, rtr_set_user_handle and rtr_close_channel apply")]
    InfoChannel { call: &'static str, chan: u32 },
    #[error("the RTR node is not available: {0}")]
    NodeUnavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl RtrError {
    /// The RTR status for this error: the one place the mapping lives.
    pub fn status(&self) -> Status {
        match self {
            RtrError::InvalidChannel(_) => Status::Invchannel,
            RtrError::InvalidFlags { .. } => Status::Invflags,
            RtrError::Unsupported { .. } => Status::Unsupported,
            RtrError::InvalidFacility(_) => Status::Invfacnam,
            RtrError::InvalidRecipient(_) => Status::Invrcpnam,
            RtrError::InvalidAccess(_) => Status::Invaccess,
            RtrError::InvalidEventList(_) => Status::Invpevtnum,
            RtrError::InvalidEvent(_) => Status::Invevtnum,
            RtrError::InvalidRecipientSpec(_) => Status::Invrcpspc,
            RtrError::Key(k) => match k {
                KeyError::BadNumericLength { .. } => Status::Invmsgsize,
                KeyError::TooManySegments { .. } => Status::Invnumseg,
                KeyError::BadSegment { .. } => Status::Invpkeyseg,
                KeyError::MessageTooShort { .. } => Status::Keymsgshort,
            },
            RtrError::KeysOnClient => Status::Invnumseg,
            RtrError::InvalidPartitionName(_) => Status::Invpkeyseg,
            RtrError::InvalidMsgLen { .. } => Status::Invmsglen,
            RtrError::ServerChannel { .. } => Status::Invop4srv,
            RtrError::ClientChannel { .. } => Status::Invop4cli,
            RtrError::NoTransaction(_) => Status::Notacttx,
            RtrError::AlreadyAccepted(_) => Status::Txalracc,
            RtrError::AlreadyPrepared(_) => Status::Txalracc,
            RtrError::TxActive(_) => Status::Txactive,
            RtrError::TooManyChannels => Status::Toomanychn,
            RtrError::ChannelClosed(_) => Status::Chanclosed,
            RtrError::Timeout => Status::Timout,
            RtrError::BufferTooSmall { .. } => Status::Buftoosmall,
            RtrError::InvalidReceiveList(_) => Status::Invrcvchan,
            RtrError::NullPointer(_) => Status::Invptr,
            RtrError::InvalidTimeout(_) => Status::Invtimoutms,
            RtrError::InvalidJoin => Status::Invjoinchan,
            RtrError::InvalidSelItem(_) => Status::Invselitm,
            RtrError::InvalidObject(_) => Status::Invobjct,
            RtrError::InvalidQualifier(_) => Status::Invqualifier,
            RtrError::InfoChannel { .. } => Status::Invchannel,
            RtrError::NodeUnavailable(_) => Status::Nodeunavail,
            RtrError::Internal(_) => Status::Internal,
        }
    }
}

pub type Result<T, E = RtrError> = std::result::Result<T, E>;
