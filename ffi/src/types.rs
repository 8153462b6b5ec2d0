//! The C types of the RTR API, laid out as `rtr.h` declares them.
//!
//! cbindgen turns these into the typedefs and structs of the header. Two
//! types are `u32` here but C enums in the header (`rtr_msg_type_t`,
//! `rtr_keyseg_type_t`): C may store any int in an enum, so Rust must never
//! read them as a Rust enum. Their enumerators are written by xtask.
#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_void};

/// Status returned by every call: compare with `RTR_STS_OK`; `rtr_error_text`
/// gives its text. Success statuses are odd, failures even.
pub type rtr_status_t = i32;
/// A channel identifier (never 0: 0 is `RTR_CHAN_ENDLIST`).
pub type rtr_channel_t = u32;
/// A message length in bytes (0 to `RTR_MAX_MSGLEN`).
pub type rtr_msglen_t = u32;
/// A timeout in milliseconds; see `RTR_NO_TIMOUTMS`.
pub type rtr_timout_t = u32;
/// A user-defined reason code delivered with the outcome of a transaction.
pub type rtr_reason_t = u32;
/// An event number, or a marker of an event list (`RTR_EVTNUM_*`).
pub type rtr_evtnum_t = i32;
/// The number of key segments given to `rtr_open_channel`.
pub type rtr_numseg_t = u32;
/// An unsigned 32-bit field of a key segment.
pub type rtr_uns_32_t = u32;
/// An application value attached to a channel; it can hold a pointer.
pub type rtr_usrhdl_t = usize;

/// Flags of `rtr_open_channel` (`RTR_F_OPE_*`).
pub type rtr_ope_flag_t = u32;
/// Flags of `rtr_send_to_server` (`RTR_F_SEN_*`).
pub type rtr_sen_flag_t = u32;
/// Flags of `rtr_reply_to_client` (`RTR_F_REP_*`).
pub type rtr_rep_flag_t = u32;
/// Flags of `rtr_accept_tx` (`RTR_F_ACC_*`).
pub type rtr_acc_flag_t = u32;
/// Flags of `rtr_reject_tx` (`RTR_F_REJ_*`).
pub type rtr_rej_flag_t = u32;
/// Flags of `rtr_close_channel` (`RTR_F_CLO_*`).
pub type rtr_clo_flag_t = u32;
/// Flags of `rtr_start_tx` (none defined: pass `RTR_NO_FLAGS`).
pub type rtr_sta_flag_t = u32;
/// Flags of `rtr_receive_message` (none defined: pass `RTR_NO_FLAGS`).
pub type rtr_rcv_flag_t = u32;
/// Flags of `rtr_get_tid` (`RTR_F_TID_*`).
pub type rtr_tid_flag_t = u32;
/// Flags of `rtr_broadcast_event` (none defined: pass `RTR_NO_FLAGS`).
pub type rtr_bro_flag_t = u32;
/// Flags of `rtr_prepare_tx` (none defined: pass `RTR_NO_FLAGS`).
pub type rtr_pre_flag_t = u32;
/// Flags of `rtr_request_info` (none defined: pass `RTR_NO_FLAGS`).
pub type rtr_req_flag_t = u32;
/// Flags of `rtr_set_info` (none defined: pass `RTR_NO_FLAGS`).
pub type rtr_flags_t = u32;

/// A message buffer the library writes into (`rtr_receive_message`).
pub type rtr_msgbuf_t = *mut c_void;
/// Extension: a message buffer the library only reads (the data of
/// `rtr_send_to_server` and `rtr_reply_to_client`), so C++ callers can pass
/// const data. Any `rtr_msgbuf_t` converts to it implicitly.
pub type rtr_const_msgbuf_t = *const c_void;

/// A facility name: NUL-terminated, at most `RTR_MAX_FACNAM_LEN` characters,
/// starting with a letter; compared without regard to case.
pub type rtr_facnam_t = *const c_char;
/// A recipient name for broadcasts: NUL-terminated, at most
/// `RTR_MAX_RCPNAM_LEN` characters, no wildcards.
pub type rtr_rcpnam_t = *const c_char;
/// An access string (password) shared by a facility's channels:
/// NUL-terminated, at most `RTR_MAX_ACCESS_LEN` characters.
pub type rtr_access_t = *const c_char;
/// A message format description (`RTR_NO_MSGFMT` for raw bytes).
pub type rtr_msgfmt_t = *const c_char;
/// A recipient specification for broadcasts (wildcards allowed).
pub type rtr_rcpspc_t = *const c_char;

/// An information class of `rtr_request_info`: a NUL-terminated class code,
/// one of the `RTR_INFCLA_*` strings (compared without regard to case).
pub type rtr_infoclass_t = *const c_char;
/// Item names of `rtr_request_info`: one item (`selitm`) or a comma-separated
/// list (`getitms`), NUL-terminated; NULL, "" or "*" means all.
pub type rtr_itemcode_t = *const c_char;
/// The selection value of `rtr_request_info`: NUL-terminated, at most
/// `RTR_MAX_SELVAL_LEN` characters.
pub type rtr_selval_t = *const c_char;

/// The kind of a received message: one of the `rtr_mt_*` enumerators. (A C
/// enum in the header; the library always writes one of the enumerators.)
pub type rtr_msg_type_t = u32;
/// The verb of `rtr_set_info`: `verb_set`. (A C enum in the header.)
pub type rtr_verb_t = u32;
/// The object `rtr_set_info` changes: `rtr_partition_object`. (A C enum in
/// the header.)
pub type rtr_managed_object_t = u32;
/// A qualifier of `rtr_set_info`: one of the `rtr_qualifier_t` enumerators.
/// (A C enum in the header.)
pub type rtr_qualifier_t = u32;
/// The type of a key segment: one of the `rtr_keyseg_*` enumerators. (A C
/// enum in the header.)
pub type rtr_keyseg_type_t = u32;

/// `rtr_keyseg_unsigned`: unsigned integer key in native byte order.
pub(crate) const KEYSEG_UNSIGNED: rtr_keyseg_type_t = 0;
/// `rtr_keyseg_signed`: signed integer key in native byte order.
pub(crate) const KEYSEG_SIGNED: rtr_keyseg_type_t = 1;
/// `rtr_keyseg_string`: byte-string key compared bytewise.
pub(crate) const KEYSEG_STRING: rtr_keyseg_type_t = 2;
/// `rtr_keyseg_partition`: names the partition (`ks_lo_bound`: the name).
pub(crate) const KEYSEG_PARTITION: rtr_keyseg_type_t = 3;
/// `rtr_keyseg_rmname`: XA resource manager name (not supported).
pub(crate) const KEYSEG_RMNAME: rtr_keyseg_type_t = 4;

/// `RTR_NO_TIMOUTMS`: wait forever (receive) or no timeout (start_tx).
pub(crate) const NO_TIMOUTMS: rtr_timout_t = 0xFFFF_FFFF;
/// `RTR_CHAN_ENDLIST`: ends the channel list of `rtr_receive_message`.
pub(crate) const CHAN_ENDLIST: rtr_channel_t = 0;
/// Longest channel list `rtr_receive_message` reads (without the terminator).
pub(crate) const MAX_RCVCHAN_LIST: usize = rtr_core::MAX_CHANNELS;

/// A transaction identifier: seven 32-bit words, 28 bytes. Compare tids
/// with `memcmp`; the words have no meaning for the application.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct rtr_tid_t {
    pub tid32: [u32; 7],
}

/// The data of the messages that carry a status (`rtr_mt_opened`,
/// `rtr_mt_closed`, `rtr_mt_accepted`, `rtr_mt_rejected`, `rtr_mt_prepared`):
/// read it as `((rtr_status_data_t *)buf)->status` after `rtr_receive_message`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct rtr_status_data_t {
    /// Why: `RTR_STS_OK` for opened/accepted, the cause for closed/rejected.
    pub status: rtr_status_t,
    /// The reason given to `rtr_accept_tx`/`rtr_reject_tx`, else 0.
    pub reason: rtr_reason_t,
}

/// The message status block filled by `rtr_receive_message`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct rtr_msgsb_t {
    /// The kind of message (`rtr_mt_*`).
    pub msgtype: rtr_msg_type_t,
    /// The channel's user handle (`rtr_set_user_handle`), 0 if never set.
    pub usrhdl: rtr_usrhdl_t,
    /// The full length of the message, even when it was cut to fit the buffer.
    pub msglen: rtr_msglen_t,
    /// The transaction id (all zero for messages outside a transaction).
    pub tid: rtr_tid_t,
    /// The event number (`rtr_mt_user_event`, `rtr_mt_rtr_event`), else 0.
    pub evtnum: rtr_evtnum_t,
}

/// One key segment of a server's key range (`rtr_open_channel`).
///
/// A message is routed to a server when, for every segment, the
/// `ks_length` bytes at `ks_offset` in the message lie within
/// [`*ks_lo_bound`, `*ks_hi_bound`] (bounds inclusive).
/// - `rtr_keyseg_unsigned`, `rtr_keyseg_signed`: `ks_length` is 1, 2, 4 or 8;
///   each bound points to an integer of that size in native byte order.
/// - `rtr_keyseg_string`: each bound points to at least `ks_length` bytes
///   (pad a shorter value with NULs); bytes compare unsigned, left to right.
/// - A NULL bound means the lowest (lo) or highest (hi) value of the type.
///
/// The library copies the bounds during the call and keeps no pointer.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct rtr_keyseg_t {
    /// `rtr_keyseg_unsigned`, `rtr_keyseg_signed` or `rtr_keyseg_string`.
    pub ks_type: rtr_keyseg_type_t,
    /// Key length in bytes (at most `RTR_MAX_MSGLEN`).
    pub ks_length: rtr_uns_32_t,
    /// Offset of the key in every message.
    pub ks_offset: rtr_uns_32_t,
    /// Low bound (inclusive), or NULL for the type's minimum.
    pub ks_lo_bound: *mut c_void,
    /// High bound (inclusive), or NULL for the type's maximum.
    pub ks_hi_bound: *mut c_void,
}

/// One qualifier of `rtr_set_info` and its value. Lists of them end with an
/// entry whose `qualifier` is `rtr_qualifier_end` (its `pvalue` is not read).
///
/// What `pvalue` points to depends on the qualifier (see `rtr_qualifier_t`):
/// a NUL-terminated string (`rtr_facility_name`, `rtr_partition_name`,
/// `rtr_partition_be_priority_list`), an `rtr_uns_32_t`
/// (`rtr_partition_rcvy_retry_count`; optionally `rtr_partition_state_suspend`),
/// or nothing (NULL) for the others. The library reads the values during the
/// call and keeps no pointer.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct rtr_qualifier_value_t {
    /// The qualifier (`rtr_qualifier_t`).
    pub qualifier: rtr_qualifier_t,
    /// Its value, or NULL.
    pub pvalue: *const c_void,
}

// The C contract: the sizes legacy code relies on (rtr-c-api.md §8.6).
const _: () = assert!(std::mem::size_of::<rtr_tid_t>() == 28);
const _: () = assert!(std::mem::size_of::<rtr_status_data_t>() == 8);
const _: () = assert!(std::mem::size_of::<rtr_msg_type_t>() == std::mem::size_of::<std::ffi::c_int>());
const _: () = assert!(std::mem::size_of::<rtr_qualifier_t>() == std::mem::size_of::<std::ffi::c_int>());
const _: () = assert!(std::mem::size_of::<rtr_usrhdl_t>() == std::mem::size_of::<*const c_void>());

impl rtr_tid_t {
    pub(crate) fn from_tid(t: rtr_core::Tid) -> rtr_tid_t {
        rtr_tid_t { tid32: t.to_words() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The C-only values this crate relies on are written into the header by
    /// xtask; both must agree.
    #[test]
    fn header_agrees_with_the_values_used_here() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../include/rtr.h");
        let header = std::fs::read_to_string(path).expect("include/rtr.h");
        let expect = [
            format!("#define RTR_NO_TIMOUTMS ((rtr_timout_t)0x{NO_TIMOUTMS:X}u)"),
            format!("#define RTR_CHAN_ENDLIST {CHAN_ENDLIST}\n"),
            format!("#define RTR_MAX_CHANNELS {MAX_RCVCHAN_LIST} "),
            format!("rtr_keyseg_unsigned = {KEYSEG_UNSIGNED},"),
            format!("rtr_keyseg_signed = {KEYSEG_SIGNED},"),
            format!("rtr_keyseg_string = {KEYSEG_STRING},"),
            format!("rtr_keyseg_partition = {KEYSEG_PARTITION},"),
            format!("rtr_keyseg_rmname = {KEYSEG_RMNAME} "),
        ];
        for e in expect {
            assert!(header.contains(&e), "include/rtr.h lacks {e:?}");
        }
    }
}
