//! `rtr_receive_message`: the only way messages reach the application.

use std::time::Duration;

use rtr_core::{Status, Which};

use crate::boundary::{guard, non_null, rtr, status_of, terminated_list, write_out};
use crate::types::*;

/// Receive the next message for the process, from any channel or from a list.
///
/// Messages are delivered oldest first across the channels listened to. The
/// message data is copied to `pmsg` and its description to `*pmsgsb`; the
/// channel it arrived on to `*pchannel`. For `rtr_mt_opened`,
/// `rtr_mt_closed`, `rtr_mt_accepted`, `rtr_mt_rejected` and
/// `rtr_mt_prepared` the data is an `rtr_status_data_t` (8 bytes). After
/// `rtr_mt_closed` the channel is closed by RTR: calls on it return
/// `RTR_STS_CHANCLOSED` until `rtr_close_channel` releases it.
///
/// On a server channel opened without `RTR_F_OPE_EXPLICIT_ACCEPT`, calling
/// this again after the vote was requested accepts the current transaction
/// (implicit accept).
///
/// Arguments:
/// - `pchannel` (out, required): the channel the message arrived on;
/// - `flags`: `RTR_NO_FLAGS`;
/// - `prcvchan`: `RTR_ANYCHAN` (NULL) for every channel of the process, or
///   an array of channel ids ended by `RTR_CHAN_ENDLIST` (at most
///   `RTR_MAX_CHANNELS` entries before it);
/// - `pmsg`, `maxlen`: the caller's buffer and its size in bytes
///   (`RTR_MAX_MSGLEN` always suffices); `pmsg` may be NULL when `maxlen`
///   is 0;
/// - `timoutms`: how long to wait in milliseconds: 0 polls,
///   `RTR_NO_TIMOUTMS` waits forever;
/// - `pmsgsb` (out, required): the message status block.
///
/// Outputs are written only on `RTR_STS_OK`, with one exception: when the
/// message is longer than `maxlen`, its first `maxlen` bytes are copied,
/// `*pchannel` and `*pmsgsb` are written (`msgsb.msglen` is the full
/// length), the message is consumed, and `RTR_STS_BUFTOOSMALL` is returned.
///
/// Returns:
/// - `RTR_STS_OK`;
/// - `RTR_STS_BUFTOOSMALL`: the message was truncated (see above);
/// - `RTR_STS_TIMOUT`: no message within `timoutms`;
/// - `RTR_STS_INVFLAGS`: `flags` is not `RTR_NO_FLAGS`;
/// - `RTR_STS_INVPTR`: `pchannel` is NULL;
/// - `RTR_STS_INVPMSGSB`: `pmsgsb` is NULL;
/// - `RTR_STS_INVPMSG`: `pmsg` is NULL and `maxlen` is not 0;
/// - `RTR_STS_INVRCVCHAN`: the list has no `RTR_CHAN_ENDLIST` within
///   `RTR_MAX_CHANNELS` + 1 entries, is empty, names a channel that is not
///   open, or all its channels were closed while waiting; with `RTR_ANYCHAN`,
///   no channel is open;
/// - `RTR_STS_NODEUNAVAIL`: the RTR node stopped;
/// - `RTR_STS_INTERNAL`: an internal error (a bug).
///
/// Thread safety: several threads may block in this call at once, each on
/// its own channels (give each thread a channel list).
///
/// # Safety
/// `pchannel` and `pmsgsb` are NULL or writable; `prcvchan` is NULL or a
/// readable array ended by `RTR_CHAN_ENDLIST`; `pmsg` is NULL or points to
/// `maxlen` writable bytes not accessed by anything else during the call.
#[no_mangle]
pub unsafe extern "C" fn rtr_receive_message(
    pchannel: *mut rtr_channel_t,
    flags: rtr_rcv_flag_t,
    prcvchan: *mut rtr_channel_t,
    pmsg: rtr_msgbuf_t,
    maxlen: rtr_msglen_t,
    timoutms: rtr_timout_t,
    pmsgsb: *mut rtr_msgsb_t,
) -> rtr_status_t {
    guard(|| {
        if flags != 0 {
            return Err(status_of(rtr_core::RtrError::InvalidFlags { call: "rtr_receive_message", flags }));
        }
        non_null(pchannel, Status::Invptr)?;
        non_null(pmsgsb, Status::Invpmsgsb)?;
        let len = maxlen as usize;
        if len > 0 {
            non_null(pmsg, Status::Invpmsg)?;
        }
        let which = if prcvchan.is_null() {
            Which::Any
        } else {
            // SAFETY: non-NULL and ended by RTR_CHAN_ENDLIST (caller
            // contract); at most MAX_RCVCHAN_LIST + 1 entries are read.
            let list =
                unsafe { terminated_list(prcvchan.cast_const(), CHAN_ENDLIST, MAX_RCVCHAN_LIST) }.ok_or_else(|| {
                    status_of(rtr_core::RtrError::InvalidReceiveList(format!(
                        "no RTR_CHAN_ENDLIST within {MAX_RCVCHAN_LIST} entries"
                    )))
                })?;
            Which::List(list)
        };
        let timeout = (timoutms != NO_TIMOUTMS).then(|| Duration::from_millis(u64::from(timoutms)));
        let pbuf = pmsg.cast::<u8>();
        let r = rtr()?
            .receive_with(&which, timeout, |sb, data| {
                let n = data.len().min(len);
                if n > 0 {
                    // SAFETY: pmsg is non-NULL when len > 0 (checked) and
                    // points to maxlen writable bytes that nothing else uses
                    // during the call (caller contract); n <= maxlen. The
                    // buffer may be uninitialised: it is only written, through
                    // a raw pointer, never read or turned into a slice.
                    unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), pbuf, n) };
                }
                rtr_core::Received { truncated: n < data.len(), ..*sb }
            })
            .map_err(status_of)?;
        let sb = rtr_msgsb_t {
            msgtype: r.msgtype.code(),
            usrhdl: r.usrhdl,
            msglen: rtr_msglen_t::try_from(r.msglen).map_err(|_| Status::Internal)?,
            tid: rtr_tid_t::from_tid(r.tid),
            evtnum: r.evtnum,
        };
        // SAFETY: both non-NULL (checked above) and writable (caller contract).
        unsafe {
            write_out(pchannel, r.channel);
            write_out(pmsgsb, sb);
        }
        if r.truncated {
            Err(Status::Buftoosmall)
        } else {
            Ok(())
        }
    })
}

#[cfg(test)]
mod tests {
    use std::ptr::null_mut;

    use rtr_core::flags::ope;
    use rtr_core::{MsgType, Status};

    use super::*;
    use crate::test_support::*;

    /// Receive with explicit arguments; outputs start as sentinels.
    fn raw(
        flags: u32,
        list: *mut rtr_channel_t,
        pmsg: rtr_msgbuf_t,
        maxlen: u32,
        timoutms: u32,
        with_pchannel: bool,
        with_msgsb: bool,
    ) -> (rtr_status_t, rtr_channel_t, rtr_msgsb_t) {
        let mut channel: rtr_channel_t = 777;
        let mut sb = rtr_msgsb_t { msgtype: 999, ..Default::default() };
        let pch = if with_pchannel { &mut channel as *mut _ } else { null_mut() };
        let psb = if with_msgsb { &mut sb as *mut _ } else { null_mut() };
        // SAFETY: every pointer is NULL or valid as the test says.
        let s = unsafe { rtr_receive_message(pch, flags, list, pmsg, maxlen, timoutms, psb) };
        (s, channel, sb)
    }

    #[test]
    fn argument_checks_write_nothing() {
        let ch = open(ope::CLIENT, c"FFI_RCVARGS");
        let mut list = [ch, CHAN_ENDLIST];
        let mut buf = [0u8; 16];
        let pbuf = buf.as_mut_ptr().cast();
        let l = list.as_mut_ptr();
        let cases = [
            (raw(1, l, pbuf, 16, 0, true, true), Status::Invflags),
            (raw(0, l, pbuf, 16, 0, false, true), Status::Invptr),
            (raw(0, l, pbuf, 16, 0, true, false), Status::Invpmsgsb),
            (raw(0, l, null_mut(), 16, 0, true, true), Status::Invpmsg),
        ];
        for ((s, channel, sb), want) in cases {
            assert_eq!(s, code(want));
            assert_eq!(channel, 777, "*pchannel written on failure");
            assert_eq!(sb.msgtype, 999, "*pmsgsb written on failure");
        }
        // The opened message is still there: nothing was consumed.
        expect(ch, MsgType::Opened);
        // Now the queue is empty: polling times out and writes nothing.
        let (s, channel, sb) = raw(0, l, pbuf, 16, 0, true, true);
        assert_eq!(s, code(Status::Timout));
        assert_eq!((channel, sb.msgtype), (777, 999));
        // A short wait times out too.
        assert_eq!(raw(0, l, pbuf, 16, 20, true, true).0, code(Status::Timout));
        close(ch);
    }

    #[test]
    fn channel_lists() {
        let ch = open(ope::CLIENT, c"FFI_RCVLIST");
        // No terminator within MAX_RCVCHAN_LIST + 1 entries.
        let mut long = vec![ch; MAX_RCVCHAN_LIST + 1];
        let (s, channel, _) = raw(0, long.as_mut_ptr(), null_mut(), 0, 0, true, true);
        assert_eq!(s, code(Status::Invrcvchan));
        assert_eq!(channel, 777);
        // Exactly the maximum and the terminator is accepted.
        long[MAX_RCVCHAN_LIST] = CHAN_ENDLIST;
        let mut buf = [0u8; 8];
        let (s, channel, sb) = raw(0, long.as_mut_ptr(), buf.as_mut_ptr().cast(), 8, WAIT_MS, true, true);
        assert_eq!(s, OK);
        assert_eq!((channel, sb.msgtype), (ch, MsgType::Opened.code()));
        // An empty list, and a list naming a channel that is not open.
        let mut empty = [CHAN_ENDLIST];
        assert_eq!(raw(0, empty.as_mut_ptr(), null_mut(), 0, 0, true, true).0, code(Status::Invrcvchan));
        let mut closed = [u32::MAX - 3, CHAN_ENDLIST];
        assert_eq!(raw(0, closed.as_mut_ptr(), null_mut(), 0, 0, true, true).0, code(Status::Invrcvchan));
        close(ch);
    }

    #[test]
    fn too_small_buffer_gives_buftoosmall_and_the_full_length() {
        let ch = open(ope::CLIENT, c"FFI_TRUNC");
        let g = receive_from(&[ch], 4, WAIT_MS);
        assert_eq!(g.status, code(Status::Buftoosmall));
        assert_eq!(g.channel, ch);
        assert_eq!(g.sb.msgtype, MsgType::Opened.code());
        assert_eq!(g.sb.msglen as usize, std::mem::size_of::<rtr_status_data_t>());
        // The first 4 bytes are the status field of rtr_status_data_t.
        assert_eq!(g.data, OK.to_ne_bytes());
        // The message was consumed.
        assert_eq!(receive_from(&[ch], 64, 0).status, code(Status::Timout));
        close(ch);

        // maxlen 0 with a NULL buffer: only the status block.
        let ch = open(ope::CLIENT, c"FFI_TRUNC0");
        let mut list = [ch, CHAN_ENDLIST];
        let (s, channel, sb) = raw(0, list.as_mut_ptr(), null_mut(), 0, WAIT_MS, true, true);
        assert_eq!(s, code(Status::Buftoosmall));
        assert_eq!((channel, sb.msgtype, sb.msglen), (ch, MsgType::Opened.code(), 8));
        close(ch);
    }
}
