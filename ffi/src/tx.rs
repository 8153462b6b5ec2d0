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
        let timeout = if timoutms == 0 || timoutms == NO_TIMOUTMS { None } else { Some(timoutms) };
        rtr()?.start_tx(channel, flags, timeout).map_err(status_of)
    })
}

/// Check the data and format arguments shared by send and reply, and return
/// the data as a slice.
///
/// # Safety
/// `pmsg` is NULL or points to `msglen` readable bytes; `msgfmt` is NULL or
/// points to at least one readable byte.
pub(crate) unsafe fn message<'a>(
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
/// - `flags`: `RTR_NO_FLAGS`, or any of: `RTR_F_SEN_ACCEPT` to accept the
///   transaction with this last message (no separate `rtr_accept_tx`);
///   `RTR_F_SEN_RETURN_TO_SENDER`: if no server takes the message, it comes
///   back as `rtr_mt_rettosend` instead of rejecting the transaction;
///   `RTR_F_SEN_EXPENDABLE`: if the server holding the transaction is lost,
///   the transaction is rejected (`RTR_STS_SRVDIED`) instead of presented
///   to another server; `RTR_F_SEN_READONLY`: the message changes no
///   database, so it is not journaled (a replay after a node crash does not
///   present it);
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
/// - `RTR_STS_UNSUPPORTED`: a non-empty `msgfmt`;
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
///   `RTR_F_REP_INDEPENDENT` marks an independent transaction: with
///   `RTR_F_OPE_EXPLICIT_ACCEPT` it is valid only with `RTR_F_REP_ACCEPT`
///   (else `RTR_STS_INVFLAGS`), otherwise it implies the accept;
///   `RTR_F_REP_FORGET` follows the same rule and makes that accept a
///   forgetting one, as `RTR_F_ACC_FORGET` in `rtr_accept_tx`;
/// - `pmsg`, `msglen`, `msgfmt`: as for `rtr_send_to_server`.
///
/// Returns:
/// - `RTR_STS_OK`;
/// - `RTR_STS_INVMSGLEN`, `RTR_STS_INVPMSG`, `RTR_STS_UNSUPPORTED` (a
///   non-empty `msgfmt`): as for `rtr_send_to_server`;
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
/// - `flags`: `RTR_NO_FLAGS`, or `RTR_F_ACC_INDEPENDENT` (accepted: there
///   is no commit ordering to relax), or `RTR_F_ACC_FORGET`: a client will
///   not receive the outcome (nor later replies) and may start its next
///   transaction at once; a server is released at once (its next receive
///   brings new work), is not told the outcome, and owes no
///   acknowledgement, so use it only where the server needs no outcome
///   (for example read-only work);
/// - `reason`: a code delivered to the other participants, or
///   `RTR_NO_REASON`.
///
/// Returns:
/// - `RTR_STS_OK`;
/// - `RTR_STS_INVCHANNEL`, `RTR_STS_INVFLAGS`;
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
/// - `flags`: `RTR_NO_FLAGS`, or on a server `RTR_F_REJ_RETRY`: instead of
///   rejecting the transaction, give it back to be presented again (to this
///   or another server of the partition). The server receives
///   `rtr_mt_rejected` with `RTR_STS_DLKTXRES` (rescheduled) for it; the
///   client notices nothing. Retries count against the partition's retry
///   limit, after which the transaction is rejected (`RTR_STS_RETRYLIMIT`);
/// - `reason`: a code delivered to every participant, or `RTR_NO_REASON`.
///
/// Returns:
/// - `RTR_STS_OK`;
/// - `RTR_STS_INVCHANNEL`, `RTR_STS_INVFLAGS` (also `RTR_F_REJ_RETRY` on a client);
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

/// Get the fencing token of the last transaction message a server channel
/// received (an extension of this implementation; `docs/fencing.md`).
///
/// It is the grant epoch under which the server's node held the key range
/// when it delivered that message (`rtr_mt_msg1`, `rtr_mt_msg1_uncertain`,
/// `rtr_mt_msgn`, `rtr_mt_prepare`, `rtr_mt_accepted`, `rtr_mt_rejected`),
/// and it only grows for a key range. A server whose database keeps, per
/// key range, the highest token it committed under, and refuses a commit
/// under a lower one, cannot apply a transaction twice when a node frozen
/// with a commit in hand wakes after the range's new holder replayed it
/// (as `rtr_mt_msg1_uncertain`, under a higher token). On `RTR_STS_OK`,
/// `*pfence` holds it (0 before the channel received any); otherwise
/// `*pfence` is unchanged.
///
/// Arguments:
/// - `pfence` (out, required).
///
/// Returns:
/// - `RTR_STS_OK`;
/// - `RTR_STS_INVPTR`: `pfence` is NULL;
/// - `RTR_STS_INVCHANNEL`;
/// - `RTR_STS_INVOP4CLI`: a client channel (it takes no work);
/// - `RTR_STS_NODEUNAVAIL`, `RTR_STS_INTERNAL`.
///
/// Thread safety: may be called from any thread.
///
/// # Safety
/// `pfence` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn rtr_get_fence(channel: rtr_channel_t, pfence: *mut std::os::raw::c_ulonglong) -> rtr_status_t {
    guard(|| -> CallResult {
        non_null(pfence, Status::Invptr)?;
        let fence = rtr()?.get_fence(channel).map_err(status_of)?;
        // SAFETY: non-NULL (checked) and writable (caller contract).
        unsafe { write_out(pfence, fence) };
        Ok(())
    })
}

/// Phase one of a commit, asked for by a client whose transaction is a
/// branch of one coordinated elsewhere (a foreign transaction manager).
///
/// The servers are asked to vote; when every one voted yes the client
/// receives `rtr_mt_prepared` (an `rtr_status_data_t` with `RTR_STS_OK` and
/// this `reason`). The client then calls `rtr_accept_tx` or `rtr_reject_tx`,
/// whose own reason is ignored: `reason` stands. If a server rejects, the
/// client receives `rtr_mt_rejected` as usual. No more messages may be sent
/// after this call. If the client goes away after it, the transaction is
/// rejected with `RTR_STS_REQDIEDPREP` (RTR would leave it unresolved for
/// the foreign TM; foreign TMs are not supported, see the README).
///
/// Arguments:
/// - `flags`: `RTR_NO_FLAGS`;
/// - `pmsg`, `msglen`: data kept with the prepared transaction for the
///   foreign TM, at most `RTR_MAX_BLOB_LEN` bytes; checked, not kept.
///
/// Returns:
/// - `RTR_STS_OK`;
/// - `RTR_STS_INVCHANNEL`, `RTR_STS_CHANCLOSED`, `RTR_STS_INVFLAGS`;
/// - `RTR_STS_INVOP4SRV`: a server channel;
/// - `RTR_STS_INVMSGLEN`: `msglen` over `RTR_MAX_BLOB_LEN`; `RTR_STS_INVPMSG`: NULL data with a length;
/// - `RTR_STS_NOTACTTX`: no transaction is active;
/// - `RTR_STS_TXALRACC`: the transaction is already accepted or prepared;
/// - `RTR_STS_NODEUNAVAIL`, `RTR_STS_INTERNAL`.
///
/// # Safety
/// `pmsg` is NULL or points to `msglen` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn rtr_prepare_tx(
    channel: rtr_channel_t,
    flags: rtr_pre_flag_t,
    reason: rtr_reason_t,
    pmsg: rtr_msgbuf_t,
    msglen: rtr_msglen_t,
) -> rtr_status_t {
    guard(|| {
        let len = msglen as usize;
        if len > rtr_core::MAX_BLOB_LEN {
            return Err(status_of(RtrError::InvalidMsgLen { len }));
        }
        // SAFETY: forwarded caller contract; the length is at most the blob limit.
        let data = unsafe { message(pmsg.cast_const(), msglen, std::ptr::null()) }?;
        rtr()?.prepare_tx(channel, flags, reason, data).map_err(status_of)
    })
}

#[cfg(test)]
mod tests {
    use std::ffi::c_void;
    use std::ptr::{null, null_mut, NonNull};

    use rtr_core::flags::{ope, rep, sen};
    use rtr_core::{MsgType, Status};

    use super::*;
    use crate::test_support::*;
    use crate::{rtr_get_user_handle, rtr_set_user_handle};

    fn send(ch: rtr_channel_t, flags: u32, data: &[u8]) -> rtr_status_t {
        // SAFETY: data.len() readable bytes; NULL msgfmt.
        unsafe { rtr_send_to_server(ch, flags, data.as_ptr().cast(), data.len() as u32, null()) }
    }

    fn reply(ch: rtr_channel_t, flags: u32, data: &[u8]) -> rtr_status_t {
        // SAFETY: data.len() readable bytes; NULL msgfmt.
        unsafe { rtr_reply_to_client(ch, flags, data.as_ptr().cast(), data.len() as u32, null()) }
    }

    fn tid(ch: rtr_channel_t) -> (rtr_status_t, rtr_tid_t) {
        let mut t = rtr_tid_t { tid32: [9; 7] };
        // SAFETY: valid out pointer.
        let s = unsafe { rtr_get_tid(ch, 0, &mut t) };
        (s, t)
    }

    /// A pointer that faults if read: proves an argument was not touched.
    fn poison() -> *const c_void {
        NonNull::<u8>::dangling().as_ptr().cast_const().cast()
    }

    #[test]
    fn message_argument_checks() {
        let cl = open_ready(ope::CLIENT, c"FFI_SENDARGS");
        // msglen above the maximum: pmsg is never read.
        // SAFETY: pmsg is not read when msglen is invalid (what is tested).
        let s = unsafe { rtr_send_to_server(cl, 0, poison(), 64_001, null()) };
        assert_eq!(s, code(Status::Invmsglen));
        // SAFETY: as above.
        let s = unsafe { rtr_reply_to_client(cl, 0, poison(), 64_001, null()) };
        assert_eq!(s, code(Status::Invmsglen));
        // NULL pmsg with a length.
        // SAFETY: NULL pmsg is what is tested.
        let s = unsafe { rtr_send_to_server(cl, 0, null(), 5, null()) };
        assert_eq!(s, code(Status::Invpmsg));
        // A format string is not supported; an empty one is the same as none.
        // SAFETY: 4 readable bytes, NUL-terminated format.
        let s = unsafe { rtr_send_to_server(cl, 0, b"abcd".as_ptr().cast(), 4, c"%UL".as_ptr()) };
        assert_eq!(s, code(Status::Unsupported));
        assert_eq!(send(cl, 1 << 9, b"x"), code(Status::Invflags));
        assert_eq!(reply(cl, 1 << 9, b"x"), code(Status::Invflags));
        assert_eq!(send(u32::MAX - 1, 0, b"x"), code(Status::Invchannel));
        assert_eq!(reply(u32::MAX - 1, 0, b"x"), code(Status::Invchannel));
        // RTR_F_REP_FORGET is supported; on a client channel any reply is refused.
        assert_eq!(reply(cl, rtr_core::flags::rep::FORGET, b"x"), code(Status::Invop4cli));
        // An empty format string is accepted, and so is RTR_NO_MSG with length 0.
        // SAFETY: 4 readable bytes, NUL-terminated (empty) format.
        let s = unsafe { rtr_send_to_server(cl, 0, b"abcd".as_ptr().cast(), 4, c"".as_ptr()) };
        assert_eq!(s, OK);
        // SAFETY: NULL pmsg with length 0 is allowed.
        let s = unsafe { rtr_send_to_server(cl, sen::ACCEPT, null(), 0, null()) };
        assert_eq!(s, OK);
        // The facility has no server: the transaction fails later, asynchronously.
        let g = expect(cl, MsgType::Rejected);
        assert_eq!(status_data(&g).status, code(Status::Nodstfnd));
        close(cl);
    }

    #[test]
    fn client_calls_on_server_channels_and_the_reverse() {
        let srv = open_ready(ope::SERVER, c"FFI_ROLES");
        let cl = open_ready(ope::CLIENT, c"FFI_ROLES");
        assert_eq!(send(srv, 0, b"hello"), code(Status::Invop4srv));
        assert_eq!(rtr_start_tx(srv, 0, 0, 0), code(Status::Invop4srv));
        assert_eq!(reply(cl, 0, b"hello"), code(Status::Invop4cli));
        close(cl);
        close(srv);
    }

    #[test]
    fn start_get_tid_and_votes_without_a_transaction() {
        let cl = open_ready(ope::CLIENT, c"FFI_START");
        let bad = u32::MAX - 1;
        assert_eq!(rtr_start_tx(cl, 0, 0, 5), code(Status::Invjoinchan));
        assert_eq!(rtr_start_tx(cl, 1, 0, 0), code(Status::Invflags));
        assert_eq!(rtr_start_tx(bad, 0, 0, 0), code(Status::Invchannel));
        assert_eq!(rtr_accept_tx(cl, 0, 0), code(Status::Notacttx));
        assert_eq!(rtr_reject_tx(cl, 0, 0), code(Status::Notacttx));
        assert_eq!(rtr_accept_tx(cl, 1 << 7, 0), code(Status::Invflags));
        assert_eq!(rtr_reject_tx(cl, 1 << 7, 0), code(Status::Invflags));
        assert_eq!(rtr_accept_tx(bad, 0, 0), code(Status::Invchannel));
        assert_eq!(rtr_reject_tx(bad, 0, 0), code(Status::Invchannel));
        let (s, t) = tid(cl);
        assert_eq!(s, code(Status::Notacttx));
        assert_eq!(t.tid32, [9; 7], "*ptid written on failure");
        assert_eq!(tid(bad).0, code(Status::Invchannel));
        let mut t = rtr_tid_t::default();
        // SAFETY: valid out pointer.
        assert_eq!(unsafe { rtr_get_tid(cl, 1 << 5, &mut t) }, code(Status::Invflags));
        // SAFETY: valid out pointer.
        let s = unsafe { rtr_get_tid(cl, rtr_core::flags::tid::DDTM, &mut t) };
        assert_eq!(s, code(Status::Invflags));
        // SAFETY: NULL is what is tested.
        assert_eq!(unsafe { rtr_get_tid(cl, 0, null_mut()) }, code(Status::Invptr));

        // RTR_NO_TIMOUTMS means no timeout, like 0.
        assert_eq!(rtr_start_tx(cl, 0, NO_TIMOUTMS, 0), OK);
        let (s, t) = tid(cl);
        assert_eq!(s, OK);
        assert_ne!(t.tid32, [0; 7]);
        assert_eq!(rtr_start_tx(cl, 0, 0, 0), code(Status::Txactive));
        // Abort it; the outcome ends the transaction.
        assert_eq!(rtr_reject_tx(cl, 0, 42), OK);
        let g = expect(cl, MsgType::Rejected);
        assert_eq!(g.sb.tid, t);
        assert_eq!(status_data(&g).reason, 42);
        assert_eq!(tid(cl).0, code(Status::Notacttx));
        close(cl);
    }

    #[test]
    fn round_trip_between_a_client_and_a_server() {
        let fac = c"FFI_ROUNDTRIP";
        // The server serves unsigned 4-byte keys 1..=1000 at offset 0.
        let (mut lo, mut hi) = (1u32, 1000u32);
        let mut segs = [rtr_keyseg_t {
            ks_type: KEYSEG_UNSIGNED,
            ks_length: 4,
            ks_offset: 0,
            ks_lo_bound: (&mut lo as *mut u32).cast(),
            ks_hi_bound: (&mut hi as *mut u32).cast(),
        }];
        let srv = open_with_keys(ope::SERVER, fac, &mut segs);
        assert_eq!(status_data(&expect(srv, MsgType::Opened)).status, OK);
        let cl = open_ready(ope::CLIENT, fac);
        assert_eq!(rtr_set_user_handle(cl, 0xC11E), OK);

        assert_eq!(rtr_start_tx(cl, 0, 60_000, 0), OK);
        let (s, t) = tid(cl);
        assert_eq!(s, OK);
        let mut request = 7u32.to_ne_bytes().to_vec();
        request.extend_from_slice(b"hello");
        assert_eq!(send(cl, 0, &request), OK);

        let g = expect(srv, MsgType::Msg1);
        assert_eq!(g.data, request);
        assert_eq!(g.sb.msglen as usize, request.len());
        assert_eq!(g.sb.tid, t, "the server sees the client's tid");
        assert_eq!(tid(srv), (OK, t));
        assert_eq!(reply(srv, 0, b"world"), OK);

        let g = expect(cl, MsgType::Reply);
        assert_eq!(g.data, b"world");
        assert_eq!(g.sb.tid, t);
        assert_eq!(g.sb.usrhdl, 0xC11E);
        assert_eq!(rtr_accept_tx(cl, 0, 0), OK);
        assert_eq!(send(cl, 0, &request), code(Status::Txalracc));

        // The server accepts implicitly by receiving again.
        let g = expect(srv, MsgType::Accepted);
        assert_eq!(g.sb.tid, t);
        assert_eq!(status_data(&g).status, OK);
        let g = expect(cl, MsgType::Accepted);
        assert_eq!(g.sb.tid, t);
        assert_eq!(status_data(&g).status, OK);

        // A second transaction, started implicitly and accepted with the send.
        assert_eq!(send(cl, sen::ACCEPT, &request), OK);
        let g = expect(srv, MsgType::Msg1);
        assert_ne!(g.sb.tid, t, "a new transaction has a new tid");
        assert_eq!(reply(srv, rep::ACCEPT, b"done"), OK);
        assert_eq!(expect(cl, MsgType::Reply).data, b"done");
        assert_eq!(expect(cl, MsgType::Accepted).sb.tid, g.sb.tid);
        assert_eq!(expect(srv, MsgType::Accepted).sb.tid, g.sb.tid);

        // A message outside every key range is rejected (no destination).
        let mut outside = 5000u32.to_ne_bytes().to_vec();
        outside.push(0);
        assert_eq!(send(cl, sen::ACCEPT, &outside), OK);
        let g = expect(cl, MsgType::Rejected);
        assert_eq!(status_data(&g).status, code(Status::Nodstfnd));

        let mut h = 0;
        // SAFETY: valid out pointer.
        assert_eq!(unsafe { rtr_get_user_handle(cl, &mut h) }, OK);
        assert_eq!(h, 0xC11E);
        close(cl);
        close(srv);
    }
}
