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
///   `RTR_F_OPE_NOCONCURRENT`, `RTR_F_OPE_SHADOW`). A shadow server
///   (docs/shadow.md) needs a facility defined across nodes, with backends
///   at two sites (`rtr start --site`); on a node without such a facility
///   the open ends in `rtr_mt_closed` with `RTR_STS_UNSUPPORTED`.
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
/// - `RTR_STS_INVPKEYSEG` also: a `rtr_keyseg_partition` segment whose
///   name (`ks_lo_bound`, NUL-terminated) is not 1 to 63 characters, a
///   letter first then letters, digits, `+`, `_`, `$`; or two of them;
/// - `RTR_STS_UNSUPPORTED`: `rtr_keyseg_rmname`, or a flag this
///   implementation does not support (FOREIGN_TM, XA_MANAGED);
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
                status_of(RtrError::InvalidEventList(format!("no RTR_EVTNUM_ENDLIST within {MAX_EVENT_LIST} entries")))
            })?
        };
        // SAFETY: pkeyseg is NULL or points to numseg readable segments
        // (caller contract); key_segments checks numseg and NULL first.
        let (segments, partition) = unsafe { key_segments(numseg, pkeyseg) }?;
        let chan = rtr()?
            .open_channel(OpenParams { flags, facility, recipient, access, events, segments, partition })
            .map_err(status_of)?;
        // SAFETY: pchannel is non-NULL (checked above) and writable (caller contract).
        unsafe { write_out(pchannel, chan) };
        Ok(())
    })
}

/// Convert the C key segments: the key segments, and the partition's name
/// when a `rtr_keyseg_partition` segment gives one (its `ks_lo_bound` is a
/// NUL-terminated name; its other fields are not used).
///
/// # Safety
/// `pkeyseg` is NULL or points to `numseg` readable segments whose non-NULL
/// bounds point to `ks_length` readable bytes (a partition segment's low
/// bound to a NUL-terminated string).
unsafe fn key_segments(
    numseg: rtr_numseg_t,
    pkeyseg: *const rtr_keyseg_t,
) -> Result<(Vec<KeySegment>, Option<String>), Status> {
    let count = numseg as usize;
    if count > MAX_NUMSEG {
        return Err(status_of(rtr_core::keyseg::KeyError::TooManySegments { count }.into()));
    }
    if count > 0 && pkeyseg.is_null() {
        return Err(Status::Invpkeyseg);
    }
    let mut out = Vec::with_capacity(count);
    let mut name = None;
    for index in 0..count {
        // SAFETY: index < numseg and pkeyseg points to numseg readable
        // segments (caller contract, non-NULL checked above).
        let ks = unsafe { pkeyseg.add(index).read_unaligned() };
        let key_type = match ks.ks_type {
            KEYSEG_UNSIGNED => KeyType::Unsigned,
            KEYSEG_SIGNED => KeyType::Signed,
            KEYSEG_STRING => KeyType::String,
            KEYSEG_PARTITION => {
                if name.is_some() || ks.ks_lo_bound.is_null() {
                    return Err(Status::Invpkeyseg);
                }
                // SAFETY: a partition segment's low bound is NUL-terminated
                // (caller contract); at most 64 bytes are read past it.
                let n =
                    unsafe { crate::boundary::opt_cstr(ks.ks_lo_bound.cast_const().cast(), 64, Status::Invpkeyseg) }?;
                name = n;
                continue;
            }
            KEYSEG_RMNAME => return Err(Status::Unsupported),
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
    Ok((out, name))
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
/// progress is presented to another server, and a committed transaction the
/// server has received the outcome of counts as finished. Messages still
/// queued for the channel are discarded, and the channel id is invalid
/// afterwards. No `rtr_mt_closed` is delivered for a channel the application
/// closed. Closing a channel that RTR closed (after receiving
/// `rtr_mt_closed` for it) releases it and returns `RTR_STS_OK`.
///
/// `flags`: `RTR_NO_FLAGS` (`RTR_F_CLO_FORCE` is accepted: a close always
/// rejects the client's transaction in progress).
///
/// Returns:
/// - `RTR_STS_OK`;
/// - `RTR_STS_INVCHANNEL`: not an open channel of this process;
/// - `RTR_STS_INVFLAGS`: unknown flags;
/// - `RTR_STS_NODEUNAVAIL`: the RTR node stopped;
/// - `RTR_STS_INTERNAL`: an internal error (a bug).
///
/// Thread safety: may be called from any thread. A thread blocked in
/// `rtr_receive_message` on this channel alone returns `RTR_STS_INVRCVCHAN`.
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

#[cfg(test)]
mod tests {
    use std::ffi::{c_char, CStr, CString};
    use std::ptr::{null, null_mut, NonNull};

    use rtr_core::flags::ope;
    use rtr_core::{MsgType, Status};

    use super::*;
    use crate::test_support::*;

    /// Call rtr_open_channel with an initialised out value, returning (status, out).
    fn try_open(
        flags: u32,
        facnam: *const c_char,
        rcpnam: *const c_char,
        pevtnum: *mut rtr_evtnum_t,
        access: *const c_char,
        segs: &mut [rtr_keyseg_t],
        numseg: u32,
    ) -> (rtr_status_t, rtr_channel_t) {
        let mut ch: rtr_channel_t = 4242;
        let pkeyseg = if segs.is_empty() { null_mut() } else { segs.as_mut_ptr() };
        // SAFETY: every pointer is NULL, NUL-terminated or sized as the test says.
        let s = unsafe { rtr_open_channel(&mut ch, flags, facnam, rcpnam, pevtnum, access, numseg, pkeyseg) };
        (s, ch)
    }

    fn open_status(flags: u32, facnam: &CStr) -> rtr_status_t {
        let (s, ch) = try_open(flags, facnam.as_ptr(), null(), null_mut(), null(), &mut [], 0);
        if s != OK {
            assert_eq!(ch, 4242, "*pchannel written on failure");
        }
        s
    }

    fn seg(ks_type: u32, len: u32, lo: *mut c_void, hi: *mut c_void) -> rtr_keyseg_t {
        rtr_keyseg_t { ks_type, ks_length: len, ks_offset: 0, ks_lo_bound: lo, ks_hi_bound: hi }
    }

    fn server_keys_status(segs: &mut [rtr_keyseg_t]) -> rtr_status_t {
        let n = segs.len() as u32;
        let (s, ch) = try_open(ope::SERVER, c"FFI_KEYS".as_ptr(), null(), null_mut(), null(), segs, n);
        if s != OK {
            assert_eq!(ch, 4242, "*pchannel written on failure");
        } else {
            close(ch);
        }
        s
    }

    /// A pointer that faults if read: proves an argument was not touched.
    fn poison() -> *mut c_void {
        NonNull::<u8>::dangling().as_ptr().cast()
    }

    #[test]
    fn null_pchannel_is_invptr() {
        // SAFETY: NULL pchannel is what is tested; the rest is valid.
        let s = unsafe {
            rtr_open_channel(null_mut(), ope::CLIENT, c"FFI_NULLCH".as_ptr(), null(), null_mut(), null(), 0, null_mut())
        };
        assert_eq!(s, code(Status::Invptr));
    }

    #[test]
    fn null_optional_arguments() {
        // NULL facnam: the default facility (RTR$DEFAULT_FACILITY).
        let (s, ch) = try_open(ope::CLIENT, null(), null(), null_mut(), null(), &mut [], 0);
        assert_eq!(s, OK);
        assert_eq!(status_data(&expect(ch, MsgType::Opened)).status, OK);
        close(ch);
        // An empty pkeyseg list may still point somewhere: numseg 0 reads nothing.
        let mut ch = 0;
        // SAFETY: pkeyseg is not read with numseg 0 (what is tested).
        let s = unsafe {
            rtr_open_channel(
                &mut ch,
                ope::SERVER,
                c"FFI_NOKEYS".as_ptr(),
                null(),
                null_mut(),
                null(),
                0,
                poison().cast(),
            )
        };
        assert_eq!(s, OK);
        close(ch);
    }

    #[test]
    fn invalid_flags() {
        let f = c"FFI_FLAGS";
        assert_eq!(open_status(0, f), code(Status::Invflags));
        assert_eq!(open_status(ope::CLIENT | ope::SERVER, f), code(Status::Invflags));
        assert_eq!(open_status(ope::CLIENT | (1 << 30), f), code(Status::Invflags));
        assert_eq!(open_status(ope::CLIENT | ope::EXPLICIT_ACCEPT, f), code(Status::Invflags));
        // A server flag (a shadow server on a node without a facility
        // across two sites is refused by the node: rtr_mt_closed).
        assert_eq!(open_status(ope::CLIENT | ope::SHADOW, f), code(Status::Invflags));
    }

    #[test]
    fn bad_strings() {
        let long = CString::new("A".repeat(300)).unwrap();
        assert_eq!(open_status(ope::CLIENT, &long), code(Status::Invfacnam));
        assert_eq!(open_status(ope::CLIENT, c"1ABC"), code(Status::Invfacnam));
        let not_utf8 = [b'A' as c_char, 0xff_u8 as c_char, 0];
        let (s, _) = try_open(ope::CLIENT, not_utf8.as_ptr(), null(), null_mut(), null(), &mut [], 0);
        assert_eq!(s, code(Status::Invfacnam));
        let f = c"FFI_STRINGS".as_ptr();
        let (s, _) = try_open(ope::CLIENT, f, c"a*".as_ptr(), null_mut(), null(), &mut [], 0);
        assert_eq!(s, code(Status::Invrcpnam));
        let (s, _) = try_open(ope::CLIENT, f, long.as_ptr(), null_mut(), null(), &mut [], 0);
        assert_eq!(s, code(Status::Invrcpnam));
        let (s, _) = try_open(ope::CLIENT, f, null(), null_mut(), long.as_ptr(), &mut [], 0);
        assert_eq!(s, code(Status::Invaccess));
    }

    #[test]
    fn event_lists() {
        let f = c"FFI_EVENTS".as_ptr();
        let mut evt = [
            event_value("RTR_EVTNUM_USERDEF"),
            event_value("RTR_EVTNUM_USERBASE"),
            event_value("RTR_EVTNUM_UP_TO"),
            event_value("RTR_EVTNUM_USERMAX"),
            EVTNUM_ENDLIST,
        ];
        let (s, ch) = try_open(ope::CLIENT, f, null(), evt.as_mut_ptr(), null(), &mut [], 0);
        assert_eq!(s, OK);
        close(ch);
        // No terminator within MAX_EVENT_LIST + 1 entries: only that many are read.
        let mut long = vec![1; MAX_EVENT_LIST + 1];
        let (s, _) = try_open(ope::CLIENT, f, null(), long.as_mut_ptr(), null(), &mut [], 0);
        assert_eq!(s, code(Status::Invpevtnum));
        // Exactly MAX_EVENT_LIST entries and the terminator is fine.
        long[MAX_EVENT_LIST] = EVTNUM_ENDLIST;
        let (s, ch) = try_open(ope::CLIENT, f, null(), long.as_mut_ptr(), null(), &mut [], 0);
        assert_eq!(s, OK);
        close(ch);
    }

    #[test]
    fn key_segment_checks() {
        let mut lo = 10u32;
        let mut hi = 20u32;
        let (plo, phi) = ((&mut lo as *mut u32).cast::<c_void>(), (&mut hi as *mut u32).cast::<c_void>());
        // numseg above the maximum: refused before pkeyseg is read.
        let (s, _) = try_open(ope::SERVER, c"FFI_KEYS".as_ptr(), null(), null_mut(), null(), &mut [], 21);
        assert_eq!(s, code(Status::Invnumseg));
        // numseg > 0 with NULL pkeyseg.
        let (s, _) = try_open(ope::SERVER, c"FFI_KEYS".as_ptr(), null(), null_mut(), null(), &mut [], 1);
        assert_eq!(s, code(Status::Invpkeyseg));
        // A 3-byte unsigned key.
        let mut three = [0u8; 3];
        let p3 = three.as_mut_ptr().cast();
        assert_eq!(server_keys_status(&mut [seg(KEYSEG_UNSIGNED, 3, p3, p3)]), code(Status::Invmsgsize));
        // Unknown and unsupported types.
        assert_eq!(server_keys_status(&mut [seg(99, 4, plo, phi)]), code(Status::Invpkeyseg));
        // A partition segment whose name is not a valid partition name.
        assert_eq!(server_keys_status(&mut [seg(KEYSEG_PARTITION, 4, plo, null_mut())]), code(Status::Invpkeyseg));
        assert_eq!(server_keys_status(&mut [seg(KEYSEG_RMNAME, 4, plo, null_mut())]), code(Status::Unsupported));
        // An absurd length is refused before the (unreadable) bounds are read.
        assert_eq!(server_keys_status(&mut [seg(KEYSEG_STRING, 64_001, poison(), poison())]), code(Status::Invpkeyseg));
        // Low above high.
        assert_eq!(server_keys_status(&mut [seg(KEYSEG_UNSIGNED, 4, phi, plo)]), code(Status::Invpkeyseg));
        // Keys on a client channel.
        let mut segs = [seg(KEYSEG_UNSIGNED, 4, plo, phi)];
        let (s, _) = try_open(ope::CLIENT, c"FFI_KEYS".as_ptr(), null(), null_mut(), null(), &mut segs, 1);
        assert_eq!(s, code(Status::Invnumseg));
        // Valid: unsigned with bounds, signed and string with default bounds.
        let mut name = *b"M\0\0\0\0\0\0\0";
        assert_eq!(
            server_keys_status(&mut [
                seg(KEYSEG_UNSIGNED, 4, plo, phi),
                rtr_keyseg_t { ks_offset: 4, ..seg(KEYSEG_SIGNED, 8, null_mut(), null_mut()) },
                rtr_keyseg_t { ks_offset: 12, ..seg(KEYSEG_STRING, 8, name.as_mut_ptr().cast(), null_mut()) },
            ]),
            OK
        );
    }

    #[test]
    fn user_handle_round_trip_and_in_msgsb() {
        let ch = open(ope::CLIENT, c"FFI_USRHDL");
        let mut h: rtr_usrhdl_t = 7;
        // SAFETY: valid out pointer.
        assert_eq!(unsafe { rtr_get_user_handle(ch, &mut h) }, OK);
        assert_eq!(h, 0);
        let handle = &h as *const rtr_usrhdl_t as rtr_usrhdl_t;
        assert_eq!(rtr_set_user_handle(ch, handle), OK);
        // SAFETY: valid out pointer.
        assert_eq!(unsafe { rtr_get_user_handle(ch, &mut h) }, OK);
        assert_eq!(h, handle);
        let g = expect(ch, MsgType::Opened);
        assert_eq!(g.sb.usrhdl, handle);
        // SAFETY: NULL is what is tested.
        assert_eq!(unsafe { rtr_get_user_handle(ch, null_mut()) }, code(Status::Invptr));
        close(ch);
    }

    #[test]
    fn unknown_channels() {
        let bad = u32::MAX - 1;
        let mut h: rtr_usrhdl_t = 3;
        assert_eq!(rtr_close_channel(bad, 0), code(Status::Invchannel));
        assert_eq!(rtr_set_user_handle(bad, 1), code(Status::Invchannel));
        // SAFETY: valid out pointer.
        assert_eq!(unsafe { rtr_get_user_handle(bad, &mut h) }, code(Status::Invchannel));
        assert_eq!(h, 3, "output written on failure");
        let ch = open(ope::CLIENT, c"FFI_CLOSE");
        assert_eq!(rtr_close_channel(ch, 1 << 5), code(Status::Invflags));
        close(ch);
        assert_eq!(rtr_close_channel(ch, 0), code(Status::Invchannel));
    }
}
