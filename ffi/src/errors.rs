//! `rtr_error_text`: the text of every status, as static C strings.

use std::ffi::{c_char, CStr, CString};
use std::panic::catch_unwind;
use std::sync::OnceLock;

use rtr_core::status::text_for_code;
use rtr_core::Status;

use crate::types::rtr_status_t;

/// The texts of `Status::ALL`, in table order, NUL-terminated. Built once
/// and never freed, so the pointers handed out stay valid for the process.
static TEXTS: OnceLock<Vec<CString>> = OnceLock::new();
/// Core's text for a value that is no status.
static UNKNOWN: OnceLock<CString> = OnceLock::new();

/// Returned only if building a text panicked (a bug).
const FALLBACK: &CStr = c"RTR internal error while looking up the status text";

fn c_text(text: &str) -> CString {
    // Status texts are literals in core without NUL bytes; should one ever
    // contain a NUL, the text is cut there rather than lost.
    let bytes: Vec<u8> = text.bytes().take_while(|b| *b != 0).collect();
    CString::new(bytes).unwrap_or_default()
}

fn text(sts: rtr_status_t) -> &'static CStr {
    match Status::from_code(sts).and_then(|s| Status::ALL.iter().position(|a| *a == s)) {
        Some(i) => {
            let texts = TEXTS.get_or_init(|| Status::ALL.iter().map(|s| c_text(s.text())).collect());
            texts.get(i).map_or(FALLBACK, |c| c.as_c_str())
        }
        None => UNKNOWN.get_or_init(|| c_text(text_for_code(sts))).as_c_str(),
    }
}

/// The English text of a status, for messages to the user.
///
/// Returns a pointer to a static, NUL-terminated string for every value:
/// the message text of each `RTR_STS_*` status, and "unknown RTR status" for
/// any other value. Never returns NULL. The string belongs to the library:
/// do not modify or free it; it stays valid until the process exits.
///
/// Thread safety: may be called from any thread, at any time (no channel or
/// node is needed).
#[no_mangle]
pub extern "C" fn rtr_error_text(sts: rtr_status_t) -> *const c_char {
    catch_unwind(|| text(sts)).unwrap_or(FALLBACK).as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(sts: i32) -> String {
        let p = rtr_error_text(sts);
        assert!(!p.is_null(), "NULL text for {sts}");
        // SAFETY: rtr_error_text returns a static NUL-terminated string.
        unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_owned()
    }

    #[test]
    fn every_status_has_its_core_text() {
        for s in Status::ALL {
            assert_eq!(text_of(s.code()), s.text(), "{s:?}");
        }
        assert_eq!(text_of(Status::Ok.code()), "normal successful completion");
    }

    #[test]
    fn unknown_values_get_the_unknown_text_and_never_null() {
        for v in [0, -1, 2, i32::MIN, i32::MAX, 1 << 20] {
            assert!(Status::from_code(v).is_none());
            assert_eq!(text_of(v), "unknown RTR status");
        }
        // A sweep over a range with every known code inside it.
        for v in -100..1000 {
            assert!(!text_of(v).is_empty());
        }
    }

    #[test]
    fn pointers_are_stable() {
        let a = rtr_error_text(Status::Timout.code());
        let b = rtr_error_text(Status::Timout.code());
        assert_eq!(a, b);
    }
}
