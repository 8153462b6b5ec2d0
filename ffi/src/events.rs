//! `rtr_broadcast_event`: user events to the other side of a facility.

use rtr_core::Status;

use crate::boundary::{guard, opt_cstr, rtr, status_of};
use crate::tx::message;
use crate::types::*;

/// Broadcast a user event, with optional data, to the other side of the
/// channel's facility: from a client channel to server channels, from a
/// server channel to client channels.
///
/// A channel receives it (as `rtr_mt_user_event`, `msgsb.evtnum` set, the
/// data in the buffer) when it subscribed to `evtnum` in its `pevtnum` list
/// at open and its recipient name (`rcpnam` at open) matches `rcpspc`.
/// Broadcasts are not transactional and not journaled; a broadcast nobody
/// subscribed to is not an error.
///
/// Arguments:
/// - `flags`: `RTR_NO_FLAGS`;
/// - `pmsg`, `msglen`: the data (may be `RTR_NO_MSG`, 0), at most
///   `RTR_MAX_MSGLEN` bytes, copied before the call returns;
/// - `evtnum`: a user event, `RTR_EVTNUM_USERBASE` to `RTR_EVTNUM_USERMAX`;
/// - `rcpspc`: recipient specification, case-sensitive, `*` matching any
///   sequence and `?` one character; NULL or empty reaches channels opened
///   without a recipient name; at most `RTR_MAX_RCPSPC_LEN` characters;
/// - `msgfmt`: `RTR_NO_MSGFMT` (format conversion is not supported).
///
/// Returns:
/// - `RTR_STS_OK`;
/// - `RTR_STS_INVCHANNEL`, `RTR_STS_CHANCLOSED`, `RTR_STS_INVFLAGS`;
/// - `RTR_STS_INVEVTNUM`: not a user event number;
/// - `RTR_STS_INVRCPSPC`: `rcpspc` too long or not UTF-8;
/// - `RTR_STS_INVMSGLEN`, `RTR_STS_INVPMSG`, `RTR_STS_UNSUPPORTED` (a msgfmt);
/// - `RTR_STS_NODEUNAVAIL`, `RTR_STS_INTERNAL`.
///
/// Thread safety: may be called from any thread.
///
/// # Safety
/// `pmsg` is NULL or points to `msglen` readable bytes; `rcpspc` and
/// `msgfmt` are NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn rtr_broadcast_event(
    channel: rtr_channel_t,
    flags: rtr_bro_flag_t,
    pmsg: rtr_const_msgbuf_t,
    msglen: rtr_msglen_t,
    evtnum: rtr_evtnum_t,
    rcpspc: rtr_rcpspc_t,
    msgfmt: rtr_msgfmt_t,
) -> rtr_status_t {
    guard(|| {
        // SAFETY: forwarded caller contract on pmsg/msglen and msgfmt.
        let data = unsafe { message(pmsg, msglen, msgfmt) }?;
        // SAFETY: rcpspc is NULL or NUL-terminated (caller contract); at most
        // the limit plus one byte is scanned.
        let spec = unsafe { opt_cstr(rcpspc, rtr_core::MAX_RCPSPC_LEN, Status::Invrcpspc) }?;
        rtr()?.broadcast_event(channel, flags, data, evtnum, spec.as_deref()).map_err(status_of)
    })
}
