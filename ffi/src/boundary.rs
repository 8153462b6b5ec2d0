//! The edge between C and Rust: the panic boundary every exported function
//! runs inside, the conversion of core errors to statuses, and the only code
//! that reads or writes through caller pointers.
//!
//! Invariants the helpers keep: a NULL pointer is never dereferenced; a
//! string or list is scanned up to a fixed bound and never past its
//! terminator; a buffer is never read past the length the caller gave.

use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};

use rtr_core::{Rtr, RtrError, Status};

use crate::types::rtr_status_t;

/// What the body of an exported function returns: `Err` carries the status.
pub(crate) type CallResult = Result<(), Status>;

/// Run `body` inside the panic boundary and turn its result into a status.
/// A panic (a bug) becomes `RTR_STS_INTERNAL` instead of unwinding into C.
pub(crate) fn guard(body: impl FnOnce() -> CallResult) -> rtr_status_t {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => Status::Ok.code(),
        Ok(Err(status)) => status.code(),
        Err(_) => Status::Internal.code(),
    }
}

/// The status of a core error: the mapping lives in core (`RtrError::status`).
pub(crate) fn status_of(e: RtrError) -> Status {
    e.status()
}

/// The process-wide connection (the embedded node, started on first use).
pub(crate) fn rtr() -> Result<&'static Rtr, Status> {
    #[cfg(test)]
    crate::test_support::isolate_journal();
    Rtr::global().map_err(status_of)
}

/// Fail with `status` when `p` is NULL.
pub(crate) fn non_null<T>(p: *const T, status: Status) -> Result<(), Status> {
    if p.is_null() {
        Err(status)
    } else {
        Ok(())
    }
}

/// Read an optional NUL-terminated string of at most `max` bytes (the NUL
/// not counted). NULL gives `None`; a string without a NUL in its first
/// `max + 1` bytes, or one that is not UTF-8, gives `Err(status)`.
///
/// # Safety
/// `p` is NULL or points to readable bytes up to and including a NUL, or to
/// at least `max + 1` readable bytes.
pub(crate) unsafe fn opt_cstr(p: *const c_char, max: usize, status: Status) -> Result<Option<String>, Status> {
    if p.is_null() {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    for i in 0..=max {
        // SAFETY: the caller guarantees the bytes up to the NUL (or the first
        // max + 1 bytes) are readable; we stop at the first NUL and at
        // index `max`, so we never read beyond either.
        let b = unsafe { p.add(i).read() } as u8;
        if b == 0 {
            return String::from_utf8(bytes).map(Some).map_err(|_| status);
        }
        bytes.push(b);
    }
    Err(status)
}

/// Whether an optional NUL-terminated string is NULL or empty (reads at most
/// its first byte).
///
/// # Safety
/// `p` is NULL or points to at least one readable byte.
pub(crate) unsafe fn cstr_is_null_or_empty(p: *const c_char) -> bool {
    // SAFETY: a non-NULL `p` points to at least one readable byte.
    p.is_null() || unsafe { p.read() } == 0
}

/// Read a list of `T` ended by `end`, with at most `max` entries before the
/// terminator. Returns `None` when the first `max + 1` entries hold no
/// terminator (the list is too long or has none).
///
/// # Safety
/// `p` is non-NULL, and every entry up to and including the terminator (or
/// the first `max + 1` entries) is readable.
pub(crate) unsafe fn terminated_list<T: Copy + PartialEq>(p: *const T, end: T, max: usize) -> Option<Vec<T>> {
    let mut out = Vec::new();
    for i in 0..=max {
        // SAFETY: the caller guarantees the entries up to the terminator (or
        // the first max + 1 entries) are readable; we stop at the terminator
        // and at index `max`. Unaligned reads tolerate packed C arrays.
        let v = unsafe { p.add(i).read_unaligned() };
        if v == end {
            return Some(out);
        }
        out.push(v);
    }
    None
}

/// The `len` bytes at `p` as a slice; NULL with `len == 0` is the empty slice.
///
/// # Safety
/// If `len > 0`, `p` is non-NULL and points to `len` readable bytes that the
/// caller does not modify during the call.
pub(crate) unsafe fn bytes<'a>(p: *const u8, len: usize) -> &'a [u8] {
    if len == 0 {
        &[]
    } else {
        // SAFETY: non-NULL (the caller checked) and `len` readable bytes,
        // unchanged for the duration of the call, which outlives the slice.
        unsafe { std::slice::from_raw_parts(p, len) }
    }
}

/// Write an output argument.
///
/// # Safety
/// `p` is non-NULL and points to writable memory for one `T`.
pub(crate) unsafe fn write_out<T>(p: *mut T, v: T) {
    // SAFETY: the caller guarantees `p` is valid for a write of one `T`;
    // unaligned writes also serve packed C structs.
    unsafe { p.write_unaligned(v) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_become_internal() {
        let s = guard(|| panic!("boom"));
        assert_eq!(s, Status::Internal.code());
        assert_eq!(guard(|| Ok(())), Status::Ok.code());
        assert_eq!(guard(|| Err(Status::Invflags)), Status::Invflags.code());
    }

    #[test]
    fn strings_are_bounded() {
        let s = c"ABC";
        // SAFETY: `s` is NUL-terminated.
        unsafe {
            assert_eq!(opt_cstr(s.as_ptr(), 3, Status::Invfacnam), Ok(Some("ABC".into())));
            assert_eq!(opt_cstr(s.as_ptr(), 2, Status::Invfacnam), Err(Status::Invfacnam));
            assert_eq!(opt_cstr(std::ptr::null(), 2, Status::Invfacnam), Ok(None));
        }
        // Not UTF-8.
        let bad = [0xffu8 as c_char, 0];
        // SAFETY: NUL-terminated array.
        let r = unsafe { opt_cstr(bad.as_ptr(), 10, Status::Invrcpnam) };
        assert_eq!(r, Err(Status::Invrcpnam));
        // A string without NUL: only max + 1 bytes are read.
        let no_nul = [b'A' as c_char; 4];
        // SAFETY: 4 readable bytes, max + 1 == 4.
        let r = unsafe { opt_cstr(no_nul.as_ptr(), 3, Status::Invaccess) };
        assert_eq!(r, Err(Status::Invaccess));
    }

    #[test]
    fn lists_stop_at_terminator_or_bound() {
        let l = [5u32, 6, 0];
        // SAFETY: terminated array.
        assert_eq!(unsafe { terminated_list(l.as_ptr(), 0, 2) }, Some(vec![5, 6]));
        // SAFETY: three readable entries, max + 1 == 2 entries read.
        assert_eq!(unsafe { terminated_list(l.as_ptr(), 0, 1) }, None);
    }
}
