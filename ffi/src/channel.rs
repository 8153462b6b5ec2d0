//! Channels: `rtr_open_channel`, `rtr_close_channel` and the user handle.

use std::ffi::c_void;

use rtr_core::events::{ALL_EVENTS, MAX_EVENT_LIST};
use rtr_core::keyseg::{KeySegment, KeyType, MAX_KEY_OFFSET_END, MAX_NUMSEG};
use rtr_core::{OpenParams, RtrError, Status};

use crate::boundary::{guard, non_null, opt_cstr, rtr, status_of, terminated_list, write_out};
use crate::types::*;

/// The longest string argument read (in bytes, without the NUL). Longer
/// strings are refused with the argument's status before core sees them;
/// core applies the exact limit of each argument (31 for names, 255 for
/// access strings).
const MAX_STRING_SCAN: usize = 255;

/// `RTR_EVTNUM_ENDLIST`, taken from core's event table at compile time.
const EVTNUM_ENDLIST: rtr_evtnum_t = event_value("RTR_EVTNUM_ENDLIST");

const fn event_value(name: &str) -> i32 {
    let mut i = 0;
    while i < ALL_EVENTS.len() {
        let (n, v) = ALL_EVENTS[i];
        if const_str_eq(n, name) {
            return v;
        }
        i += 1;
    }
    panic!("event name missing from rtr_core::events::ALL_EVENTS")
}

const fn const_str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Open a client or server channel to a facility.
///
/// On `RTR_STS_OK`, `*pchannel` holds the new channel, but the open completes
/// asynchronously: the first message received on the channel is
/// `rtr_mt_opened` (ready) or `rtr_mt_closed` (refused; the
/// `rtr_status_data_t` in the buffer says why). On any other status nothing
/// was opened and `*pchannel` is unchanged.
///
/// Arguments:
/// - `pchannel` (out, required): receives the channel id.
/// - `flags`: exactly one of `RTR_F_OPE_CLIENT`, `RTR_F_OPE_SERVER`, OR-ed
///   with server options (`RTR_F_OPE_EXPLICIT_PREPARE`,
///   `RTR_F_OPE_EXPLICIT_ACCEPT`, `RTR_F_OPE_NOSTANDBY`,
///   `RTR_F_OPE_NOCONCURRENT`).
/// - `facnam`: facility name, or `RTR_NO_FACNAM` (NULL) for
///   `RTR$DEFAULT_FACILITY`.
/// - `rcpnam`: recipient name for broadcasts, or `RTR_NO_RCPNAM` (NULL).
/// - `pevtnum`: event subscriptions, or `RTR_NO_PEVTNUM` (NULL): an array
///   ended by `RTR_EVTNUM_ENDLIST` (at most 4096 entries before it).
/// - `access`: access string, or `RTR_NO_ACCESS` (NULL).
/// - `numseg`, `pkeyseg`: a server's key segments (`numseg` entries of
///   `pkeyseg`, at most `RTR_MAX_NUMSEG`); clients pass `RTR_NO_NUMSEG` and
///   `RTR_NO_PKEYSEG`. With `numseg` 0 a server serves every key.
///
/// Strings must be NUL-terminated; at most 255 bytes are scanned. The
/// library copies every argument during the call and keeps no pointer.
///
/// Returns:
/// - `RTR_STS_OK`: the open was started;
/// - `RTR_STS_INVPTR`: `pchannel` is NULL;
/// - `RTR_STS_INVFLAGS`: unknown flags, not exactly one of CLIENT/SERVER, or
///   server options on a client;
/// - `RTR_STS_INVFACNAM`, `RTR_STS_INVRCPNAM`, `RTR_STS_INVACCESS`: the
///   string is too long, not UTF-8, or (facnam) not a valid name;
/// - `RTR_STS_INVPEVTNUM`: no `RTR_EVTNUM_ENDLIST` within 4097 entries;
/// - `RTR_STS_INVNUMSEG`: `numseg` above `RTR_MAX_NUMSEG`, or key segments
///   on a client channel;
/// - `RTR_STS_INVPKEYSEG`: `pkeyseg` NULL with `numseg` > 0, an unknown
///   `ks_type`, `ks_length` 0 or above `RTR_MAX_MSGLEN`, offset + length
///   beyond `RTR_MAX_MSGLEN`, or a low bound above the high bound;
/// - `RTR_STS_INVMSGSIZE`: a numeric key whose length is not 1, 2, 4 or 8;
/// - `RTR_STS_UNSUPPORTED`: `rtr_keyseg_partition`, `rtr_keyseg_rmname`, or
///   a flag this implementation does not support (SHADOW, call-out,
///   FOREIGN_TM, XA_MANAGED);
/// - `RTR_STS_TOOMANYCHN`: 256 channels are already open;
/// - `RTR_STS_NODEUNAVAIL`: the RTR node cannot be started or reached;
/// - `RTR_STS_INTERNAL`: an internal error (a bug); nothing was opened.
///
/// Thread safety: may be called from any thread.
///
/// # Safety
/// `pchannel` is NULL or writable; each string argument is NULL or
/// NUL-terminated; `pevtnum` is NULL or a readable array ended by
/// `RTR_EVTNUM_ENDLIST`; `pkeyseg` is NULL or points to `numseg` readable
/// `rtr_keyseg_t`, whose non-NULL bounds point to `ks_length` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn rtr_open_channel(
    pchannel: *mut rtr_channel_t,
    flags: rtr_ope_flag_t,
    facnam: rtr_facnam_t,
    rcpnam: rtr_rcpnam_t,
    pevtnum: *mut rtr_evtnum_t,
    access: rtr_access_t,
    numseg: rtr_numseg_t,
    pkeyseg: *mut rtr_keyseg_t,
) -> rtr_status_t {
    guard(|| {
        non_null(pchannel, Status::Invptr)?;
        // SAFETY: the strings are NULL or NUL-terminated (caller contract);
        // opt_cstr reads at most MAX_STRING_SCAN + 1 bytes and stops at the NUL.
        let (facility, recipient, access) = unsafe {
            (
                opt_cstr(facnam, MAX_STRING_SCAN, Status::Invfacnam)?,
                opt_cstr(rcpnam, MAX_STRING_SCAN, Status::Invrcpnam)?,
                opt_cstr(access, MAX_STRING_SCAN, Status::Invaccess)?,
            )
        };
        let events = if pevtnum.is_null() {
            Vec::new()
        } else {
            // SAFETY: non-NULL and ended by RTR_EVTNUM_ENDLIST (caller
            // contract); at most MAX_EVENT_LIST + 1 entries are read.
            unsafe { terminated_list(pevtnum.cast_const(), EVTNUM_ENDLIST, MAX_EVENT_LIST) }.ok_or_else(|| {
                status_of(RtrError::InvalidEventList(format!(
                    "no RTR_EVTNUM_ENDLIST within {MAX_EVENT_LIST} entries"
                )))
            })?
        };
        // SAFETY: pkeyseg is NULL or points to numseg readable segments
        // (caller contract); key_segments checks numseg and NULL first.
        let segments = unsafe { key_segments(numseg, pkeyseg) }?;
        let chan = rtr()?
            .open_channel(OpenParams {
                flags,
                facility,
                recipient,
                access,
                events,
                segments,
            })
            .map_err(status_of)?;
        // SAFETY: pchannel is non-NULL (checked above) and writable (caller contract).
        unsafe { write_out(pchannel, chan) };
        Ok(())
    })
}

/// Convert the C key segments.
///
/// # Safety
/// `pkeyseg` is NULL or points to `numseg` readable segments whose non-NULL
/// bounds point to `ks_length` readable bytes.
unsafe fn key_segments(numseg: rtr_numseg_t, pkeyseg: *const rtr_keyseg_t) -> Result<Vec<KeySegment>, Status> {
    let count = numseg as usize;
    if count > MAX_NUMSEG {
        return Err(status_of(rtr_core::keyseg::KeyError::TooManySegments { count }.into()));
    }
    if count > 0 && pkeyseg.is_null() {
        return Err(Status::Invpkeyseg);
    }
    let mut out = Vec::with_capacity(count);
    for index in 0..count {
        // SAFETY: index < numseg and pkeyseg points to numseg readable
        // segments (caller contract, non-NULL checked above).
        let ks = unsafe { pkeyseg.add(index).read_unaligned() };
        let key_type = match ks.ks_type {
            KEYSEG_UNSIGNED => KeyType::Unsigned,
            KEYSEG_SIGNED => KeyType::Signed,
            KEYSEG_STRING => KeyType::String,
            KEYSEG_PARTITION | KEYSEG_RMNAME => return Err(Status::Unsupported),
            _ => return Err(Status::Invpkeyseg),
        };
        let len = ks.ks_length as usize;
        // Refuse absurd lengths before reading any bound.
        if len > MAX_KEY_OFFSET_END {
            return Err(Status::Invpkeyseg);
        }
        // SAFETY: each non-NULL bound points to ks_length readable bytes
        // (caller contract); len is at most 64000.
        let (lo, hi) = unsafe { (bound(ks.ks_lo_bound, len), bound(ks.ks_hi_bound, len)) };
        let seg =
            KeySegment::new(index, key_type, ks.ks_length, ks.ks_offset, lo, hi).map_err(|e| status_of(e.into()))?;
        out.push(seg);
    }
    Ok(out)
}

/// A key bound: `len` bytes at `p`, or `None` (the type's extreme) for NULL.
///
/// # Safety
/// `p` is NULL or points to `len` readable bytes.
unsafe fn bound<'a>(p: *mut c_void, len: usize) -> Option<&'a [u8]> {
    if p.is_null() {
        None
    } else {
        // SAFETY: non-NULL and `len` readable bytes (caller contract).
        Some(unsafe { crate::boundary::bytes(p.cast_const().cast::<u8>(), len) })
    }
}

/// Close a channel.
///
/// A client's active transaction is rejected; a server's transaction in
/// progress is presented to another server. Messages still queued for the
/// channel are discarded, and the channel id is invalid afterwards. No
/// `rtr_mt_closed` is delivered for a channel the application closed.
///
/// `flags`: `RTR_NO_FLAGS` (`RTR_F_CLO_FORCE` is accepted).
///
/// Returns:
/// - `RTR_STS_OK`;
/// - `RTR_STS_INVCHANNEL`: not an open channel of this process;
/// - `RTR_STS_INVFLAGS`: unknown flags;
/// - `RTR_STS_NODEUNAVAIL`: the RTR node stopped;
/// - `RTR_STS_INTERNAL`: an internal error (a bug).
///
/// Thread safety: may be called from any thread, but do not close a channel
/// while another thread is blocked in `rtr_receive_message` on it.
#[no_mangle]
pub extern "C" fn rtr_close_channel(channel: rtr_channel_t, flags: rtr_clo_flag_t) -> rtr_status_t {
    guard(|| rtr()?.close_channel(channel, flags).map_err(status_of))
}

/// Attach an application value to a channel.
///
/// Every message received on the channel afterwards carries it in
/// `msgsb.usrhdl`; typically a pointer to the application's context cast to
/// `rtr_usrhdl_t`. The library never dereferences it. The default is 0.
///
/// Returns:
/// - `RTR_STS_OK`;
/// - `RTR_STS_INVCHANNEL`: not an open channel of this process;
/// - `RTR_STS_NODEUNAVAIL`, `RTR_STS_INTERNAL`.
///
/// Thread safety: may be called from any thread.
#[no_mangle]
pub extern "C" fn rtr_set_user_handle(channel: rtr_channel_t, usrhdl: rtr_usrhdl_t) -> rtr_status_t {
    guard(|| rtr()?.set_user_handle(channel, usrhdl).map_err(status_of))
}

/// Extension: read the value set by `rtr_set_user_handle` (0 if never set).
///
/// On `RTR_STS_OK`, `*pusrhdl` holds the value; otherwise it is unchanged.
///
/// Returns:
/// - `RTR_STS_OK`;
/// - `RTR_STS_INVPTR`: `pusrhdl` is NULL;
/// - `RTR_STS_INVCHANNEL`: not an open channel of this process;
/// - `RTR_STS_NODEUNAVAIL`, `RTR_STS_INTERNAL`.
///
/// Thread safety: may be called from any thread.
///
/// # Safety
/// `pusrhdl` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn rtr_get_user_handle(channel: rtr_channel_t, pusrhdl: *mut rtr_usrhdl_t) -> rtr_status_t {
    guard(|| {
        non_null(pusrhdl, Status::Invptr)?;
        let h = rtr()?.get_user_handle(channel).map_err(status_of)?;
        // SAFETY: non-NULL (checked) and writable (caller contract).
        unsafe { write_out(pusrhdl, h) };
        Ok(())
    })
}
