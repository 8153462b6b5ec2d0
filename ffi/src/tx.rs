//! Transactions: start, send, reply, accept, reject and the tid.

use rtr_core::{RtrError, Status, MAX_MSGLEN};

use crate::boundary::{bytes, cstr_is_null_or_empty, guard, non_null, rtr, status_of, write_out, CallResult};
use crate::types::*;

/// Start a transaction on a client channel explicitly.
///
/// Only needed for a transaction timeout: without it, the first
/// `rtr_send_to_server` starts a transaction with no timeout. When the
/// timeout expires before the outcome, the transaction is rejected and the
/// client receives `rtr_mt_rejected` with status `RTR_STS_TIMOUT`.
///
/// Arguments:
/// - `flags`: `RTR_NO_FLAGS`;
/// - `timoutms`: the transaction timeout in milliseconds; 0 and
///   `RTR_NO_TIMOUTMS` both mean no timeout;
/// - `joinchan`: `RTR_NO_JOINCHAN` (joining is not supported).
///
/// Returns:
/// - `RTR_STS_OK`;
/// - `RTR_STS_INVCHANNEL`: not an open channel of this process;
/// - `RTR_STS_INVFLAGS`: `flags` is not `RTR_NO_FLAGS`;
/// - `RTR_STS_INVJOINCHAN`: `joinchan` is not `RTR_NO_JOINCHAN`;
/// - `RTR_STS_INVOP4SRV`: the channel is a server channel;
/// - `RTR_STS_TXACTIVE`: a transaction is already active on the channel
///   (the next may start once the outcome of the last was received);
/// - `RTR_STS_NODEUNAVAIL`, `RTR_STS_INTERNAL`.
///
/// Thread safety: may be called from any thread; use each channel from one
/// thread at a time.
#[no_mangle]
pub extern "C" fn rtr_start_tx(
    channel: rtr_channel_t,
    flags: rtr_sta_flag_t,
    timoutms: rtr_timout_t,
    joinchan: rtr_channel_t,
) -> rtr_status_t {
    guard(|| {
        if joinchan != 0 {
            return Err(status_of(RtrError::InvalidJoin));
        }
        let timeout = if timoutms == 0 || timoutms == NO_TIMOUTMS {
            None
        } else {
            Some(timoutms)
        };
        rtr()?.start_tx(channel, flags, timeout).map_err(status_of)
    })
}

/// Check the data and format arguments shared by send and reply, and return
/// the data as a slice.
///
/// # Safety
/// `pmsg` is NULL or points to `msglen` readable bytes; `msgfmt` is NULL or
/// points to at least one readable byte.
unsafe fn message<'a>(
    pmsg: rtr_const_msgbuf_t,
    msglen: rtr_msglen_t,
    msgfmt: rtr_msgfmt_t,
) -> Result<&'a [u8], Status> {
    let len = msglen as usize;
    // The length is checked before pmsg is touched.
    if len > MAX_MSGLEN {
        return Err(status_of(RtrError::InvalidMsgLen { len }));
    }
    if len > 0 {
        non_null(pmsg, Status::Invpmsg)?;
    }
    // SAFETY: msgfmt is NULL or has a readable first byte (caller contract).
    if !unsafe { cstr_is_null_or_empty(msgfmt) } {
        // Format conversion is not implemented: data crosses as raw bytes.
        return Err(Status::Unsupported);
    }
    // SAFETY: pmsg is non-NULL when len > 0 (checked) and points to len
    // readable bytes (caller contract); len <= 64000.
    Ok(unsafe { bytes(pmsg.cast::<u8>(), len) })
}

/// Send one message of the client's transaction to the server(s) owning its key.
///
/// If no transaction is active one is started (without a timeout). RTR
/// routes the message by the key bytes at the facility's key offsets; a
/// message no server's key range accepts makes the transaction fail with
/// `rtr_mt_rejected` (`RTR_STS_NODSTFND`). Replies arrive as `rtr_mt_reply`.
/// The data is copied before the call returns.
///
/// Arguments:
/// - `flags`: `RTR_NO_FLAGS`, or `RTR_F_SEN_ACCEPT` to accept the
///   transaction with this last message (no separate `rtr_accept_tx`);
/// - `pmsg`, `msglen`: the data, 0 to `RTR_MAX_MSGLEN` bytes; `pmsg` may be
///   `RTR_NO_MSG` (NULL) when `msglen` is 0;
/// - `msgfmt`: `RTR_NO_MSGFMT` (NULL) or an empty string. Format conversion
///   is not supported: data crosses as raw bytes.
///
/// Returns:
/// - `RTR_STS_OK`;
/// - `RTR_STS_INVMSGLEN`: `msglen` above `RTR_MAX_MSGLEN` (`pmsg` is then
///   not read);
/// - `RTR_STS_INVPMSG`: `pmsg` is NULL and `msglen` is not 0;
/// - `RTR_STS_UNSUPPORTED`: a non-empty `msgfmt`, or `RTR_F_SEN_EXPENDABLE`,
///   `RTR_F_SEN_READONLY`, `RTR_F_SEN_RETURN_TO_SENDER`;
/// - `RTR_STS_INVCHANNEL`, `RTR_STS_INVFLAGS`;
/// - `RTR_STS_INVOP4SRV`: the channel is a server channel;
/// - `RTR_STS_TXALRACC`: the client already accepted the transaction;
/// - `RTR_STS_NODEUNAVAIL`, `RTR_STS_INTERNAL`.
///
/// Thread safety: may be called from any thread; use each channel from one
/// thread at a time.
///
/// # Safety
/// `pmsg` is NULL or points to `msglen` readable bytes; `msgfmt` is NULL or
/// NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn rtr_send_to_server(
    channel: rtr_channel_t,
    flags: rtr_sen_flag_t,
    pmsg: rtr_const_msgbuf_t,
    msglen: rtr_msglen_t,
    msgfmt: rtr_msgfmt_t,
) -> rtr_status_t {
    guard(|| {
        // SAFETY: forwarded caller contract on pmsg/msglen and msgfmt.
        let data = unsafe { message(pmsg, msglen, msgfmt) }?;
        rtr()?.send_to_server(channel, flags, data).map_err(status_of)
    })
}

/// Reply to the client of the server's current transaction.
///
/// The client receives the data as `rtr_mt_reply`. A server may reply any
/// number of times. The data is copied before the call returns.
///
/// Arguments:
/// - `flags`: `RTR_NO_FLAGS`, or `RTR_F_REP_ACCEPT` to also vote accept;
/// - `pmsg`, `msglen`, `msgfmt`: as for `rtr_send_to_server`.
///
/// Returns:
/// - `RTR_STS_OK`;
/// - `RTR_STS_INVMSGLEN`, `RTR_STS_INVPMSG`, `RTR_STS_UNSUPPORTED` (a
///   non-empty `msgfmt`, `RTR_F_REP_INDEPENDENT`, `RTR_F_REP_FORGET`): as
///   for `rtr_send_to_server`;
/// - `RTR_STS_INVCHANNEL`, `RTR_STS_INVFLAGS`;
/// - `RTR_STS_INVOP4CLI`: the channel is a client channel;
/// - `RTR_STS_NOTACTTX`: no transaction is active on the channel;
/// - `RTR_STS_TXALRACC`: `RTR_F_REP_ACCEPT` after the server already voted;
/// - `RTR_STS_NODEUNAVAIL`, `RTR_STS_INTERNAL`.
///
/// Thread safety: may be called from any thread; use each channel from one
/// thread at a time.
///
/// # Safety
/// `pmsg` is NULL or points to `msglen` readable bytes; `msgfmt` is NULL or
/// NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn rtr_reply_to_client(
    channel: rtr_channel_t,
    flags: rtr_rep_flag_t,
    pmsg: rtr_const_msgbuf_t,
    msglen: rtr_msglen_t,
    msgfmt: rtr_msgfmt_t,
) -> rtr_status_t {
    guard(|| {
        // SAFETY: forwarded caller contract on pmsg/msglen and msgfmt.
        let data = unsafe { message(pmsg, msglen, msgfmt) }?;
        rtr()?.reply_to_client(channel, flags, data).map_err(status_of)
    })
}

/// Accept the transaction active on the channel.
///
/// A client asks to commit: it may send no more messages in the
/// transaction. A server votes yes (needed with `RTR_F_OPE_EXPLICIT_ACCEPT`;
/// otherwise its next `rtr_receive_message` after the vote request accepts
/// implicitly). The outcome arrives as `rtr_mt_accepted` or `rtr_mt_rejected`.
///
/// Arguments:
/// - `flags`: `RTR_NO_FLAGS`;
/// - `reason`: a code delivered to the other participants, or
///   `RTR_NO_REASON`.
///
/// Returns:
/// - `RTR_STS_OK`;
/// - `RTR_STS_INVCHANNEL`, `RTR_STS_INVFLAGS`;
/// - `RTR_STS_UNSUPPORTED`: `RTR_F_ACC_FORGET`, `RTR_F_ACC_INDEPENDENT`;
/// - `RTR_STS_NOTACTTX`: no transaction is active on the channel;
/// - `RTR_STS_TXALRACC`: this participant already voted;
/// - `RTR_STS_NODEUNAVAIL`, `RTR_STS_INTERNAL`.
///
/// Thread safety: may be called from any thread; use each channel from one
/// thread at a time.
#[no_mangle]
pub extern "C" fn rtr_accept_tx(channel: rtr_channel_t, flags: rtr_acc_flag_t, reason: rtr_reason_t) -> rtr_status_t {
    guard(|| rtr()?.accept_tx(channel, flags, reason).map_err(status_of))
}

/// Reject (abort) the transaction active on the channel.
///
/// Every participant receives `rtr_mt_rejected`, whose status data carries
/// `reason`. A client aborts its transaction; a server votes no.
///
/// Arguments:
/// - `flags`: `RTR_NO_FLAGS`;
/// - `reason`: a code delivered to every participant, or `RTR_NO_REASON`.
///
/// Returns:
/// - `RTR_STS_OK`;
/// - `RTR_STS_INVCHANNEL`, `RTR_STS_INVFLAGS`;
/// - `RTR_STS_UNSUPPORTED`: `RTR_F_REJ_RETRY`;
/// - `RTR_STS_NOTACTTX`: no transaction is active on the channel;
/// - `RTR_STS_TXALRACC`: this participant already accepted;
/// - `RTR_STS_NODEUNAVAIL`, `RTR_STS_INTERNAL`.
///
/// Thread safety: may be called from any thread; use each channel from one
/// thread at a time.
#[no_mangle]
pub extern "C" fn rtr_reject_tx(channel: rtr_channel_t, flags: rtr_rej_flag_t, reason: rtr_reason_t) -> rtr_status_t {
    guard(|| rtr()?.reject_tx(channel, flags, reason).map_err(status_of))
}

/// Get the id of the transaction active on the channel.
///
/// It is the same value that arrives in `msgsb.tid` with the transaction's
/// messages. On `RTR_STS_OK`, `*ptid` holds it; otherwise `*ptid` is
/// unchanged.
///
/// Arguments:
/// - `flags`: `RTR_NO_FLAGS` or `RTR_F_TID_RTR`;
/// - `ptid` (out, required).
///
/// Returns:
/// - `RTR_STS_OK`;
/// - `RTR_STS_INVPTR`: `ptid` is NULL;
/// - `RTR_STS_INVCHANNEL`;
/// - `RTR_STS_INVFLAGS`: unknown flags or `RTR_F_TID_DDTM`;
/// - `RTR_STS_NOTACTTX`: no transaction is active on the channel;
/// - `RTR_STS_NODEUNAVAIL`, `RTR_STS_INTERNAL`.
///
/// Thread safety: may be called from any thread.
///
/// # Safety
/// `ptid` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn rtr_get_tid(
    channel: rtr_channel_t,
    flags: rtr_tid_flag_t,
    ptid: *mut rtr_tid_t,
) -> rtr_status_t {
    guard(|| -> CallResult {
        non_null(ptid, Status::Invptr)?;
        let tid = rtr()?.get_tid(channel, flags).map_err(status_of)?;
        // SAFETY: non-NULL (checked) and writable (caller contract).
        unsafe { write_out(ptid, rtr_tid_t::from_tid(tid)) };
        Ok(())
    })
}
