//! Helpers for the unit tests: they call the exported functions exactly as C
//! would. Every test uses its own facility and receives only from its own
//! channels (never `RTR_ANYCHAN`), because all tests of this process share
//! the global embedded node.

use std::ffi::CStr;
use std::ptr::{null, null_mut};

use rtr_core::{MsgType, Status};

use crate::types::*;
use crate::{rtr_close_channel, rtr_open_channel, rtr_receive_message};

/// The unit tests' journal directory, once made.
static JOURNAL_PARENT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// Point the process-wide node's journal at a private temporary directory
/// before the node starts, so unit tests never touch the source tree and
/// never contend with another test process for a journal lock.
///
/// The directory is removed when the test process exits (`atexit`): the
/// global node lives as long as the process, so no destructor ever runs
/// for it (a `TempDir` kept in a static left a 17 MB journal in the
/// temporary directory on every run). The node's threads still run at that
/// point; removing files they hold open is harmless on Unix.
pub fn isolate_journal() {
    JOURNAL_PARENT.get_or_init(|| {
        let d = tempfile::tempdir().expect("temporary directory").keep();
        std::env::set_var(rtr_core::runtime::JOURNAL_DIR_ENV, d.join("journal"));
        // SAFETY: registers a function without arguments that touches only
        // a static and the file system, and cannot unwind.
        unsafe {
            libc::atexit(remove_journal_at_exit);
        }
        d
    });
}

extern "C" fn remove_journal_at_exit() {
    if let Some(d) = JOURNAL_PARENT.get() {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// Bound on every wait in the tests, so a broken test fails instead of hanging.
pub const WAIT_MS: rtr_timout_t = 10_000;

pub const OK: rtr_status_t = Status::Ok.code();

pub fn code(s: Status) -> rtr_status_t {
    s.code()
}

/// Open a channel without keys; panics unless the call returns OK.
pub fn open(flags: rtr_ope_flag_t, facility: &CStr) -> rtr_channel_t {
    open_with_keys(flags, facility, &mut [])
}

/// Open a channel with key segments; panics unless the call returns OK.
pub fn open_with_keys(flags: rtr_ope_flag_t, facility: &CStr, segs: &mut [rtr_keyseg_t]) -> rtr_channel_t {
    let mut ch = 0;
    let pkeyseg = if segs.is_empty() { null_mut() } else { segs.as_mut_ptr() };
    // SAFETY: valid out pointer, NUL-terminated facility, NULL optional
    // arguments, `segs.len()` readable segments.
    let s = unsafe {
        rtr_open_channel(
            &mut ch,
            flags,
            facility.as_ptr(),
            null(),
            null_mut(),
            null(),
            segs.len() as rtr_numseg_t,
            pkeyseg,
        )
    };
    assert_eq!(s, OK, "rtr_open_channel({facility:?})");
    assert_ne!(ch, 0);
    ch
}

/// One received message.
pub struct Got {
    pub status: rtr_status_t,
    pub channel: rtr_channel_t,
    pub sb: rtr_msgsb_t,
    pub data: Vec<u8>,
}

/// Receive from `channels` only, into a buffer of `maxlen` bytes.
pub fn receive_from(channels: &[rtr_channel_t], maxlen: usize, timoutms: rtr_timout_t) -> Got {
    let mut list: Vec<rtr_channel_t> = channels.to_vec();
    list.push(CHAN_ENDLIST);
    let mut buf = vec![0u8; maxlen];
    let mut channel = 0;
    let mut sb = rtr_msgsb_t::default();
    // SAFETY: valid out pointers, a terminated list, and a buffer of maxlen bytes.
    let status = unsafe {
        rtr_receive_message(
            &mut channel,
            0,
            list.as_mut_ptr(),
            buf.as_mut_ptr().cast(),
            maxlen as rtr_msglen_t,
            timoutms,
            &mut sb,
        )
    };
    let n = (sb.msglen as usize).min(maxlen);
    buf.truncate(n);
    Got { status, channel, sb, data: buf }
}

/// Receive the next message of `ch`, which must arrive within `WAIT_MS` and be of type `mt`.
pub fn expect(ch: rtr_channel_t, mt: MsgType) -> Got {
    let g = receive_from(&[ch], rtr_core::MAX_MSGLEN, WAIT_MS);
    assert_eq!(g.status, OK, "receive on {ch}: {}", g.status);
    assert_eq!(g.channel, ch);
    assert_eq!(
        MsgType::from_code(g.sb.msgtype),
        Some(mt),
        "expected {mt:?} on channel {ch}, got type {}",
        g.sb.msgtype
    );
    g
}

/// The (status, reason) of a message that carries `rtr_status_data_t`.
pub fn status_data(g: &Got) -> rtr_status_data_t {
    assert_eq!(g.data.len(), std::mem::size_of::<rtr_status_data_t>());
    // SAFETY: 8 bytes written by the library as an rtr_status_data_t.
    unsafe { g.data.as_ptr().cast::<rtr_status_data_t>().read_unaligned() }
}

/// Open and wait for `rtr_mt_opened`.
pub fn open_ready(flags: rtr_ope_flag_t, facility: &CStr) -> rtr_channel_t {
    let ch = open(flags, facility);
    let g = expect(ch, MsgType::Opened);
    assert_eq!(status_data(&g).status, OK);
    ch
}

pub fn close(ch: rtr_channel_t) {
    assert_eq!(rtr_close_channel(ch, 0), OK);
}
