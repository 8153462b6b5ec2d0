//! `rtr_set_log_callback` (an extension): the library's diagnostics go to
//! the program instead of its standard error. The hook itself is
//! `rtr_core::log`; this is only the C calling convention around it.

use std::ffi::{c_char, c_int, c_void, CString};
use std::sync::Arc;

use rtr_core::log::Level;

use crate::boundary::guard;
use crate::types::rtr_status_t;

/// Extension: a message level of `rtr_set_log_callback`: the node or a
/// connection cannot go on.
pub const RTR_LOG_ERROR: c_int = 1;
/// Extension: a message level: something went wrong and was handled.
pub const RTR_LOG_WARN: c_int = 2;
/// Extension: a message level: a change worth knowing.
pub const RTR_LOG_INFO: c_int = 3;
/// Extension: a message level: detail for finding a problem.
pub const RTR_LOG_DEBUG: c_int = 4;

// The numbers are literals for cbindgen; they are core's.
const _: () = assert!(
    RTR_LOG_ERROR == Level::Error as c_int
        && RTR_LOG_WARN == Level::Warn as c_int
        && RTR_LOG_INFO == Level::Info as c_int
        && RTR_LOG_DEBUG == Level::Debug as c_int
);

/// Extension: the routine `rtr_set_log_callback` registers: called with a
/// message's level (`RTR_LOG_ERROR` ... `RTR_LOG_DEBUG`), its text (one
/// line, NUL-terminated, no newline) and the `ctx` given at registration.
#[allow(non_camel_case_types)]
pub type rtr_log_callback_t = Option<extern "C" fn(level: c_int, msg: *const c_char, ctx: *mut c_void)>;

/// The caller's context pointer, passed back untouched. The library never
/// dereferences it; whether the program's routine may use it from a library
/// thread is the program's contract (documented on the C side).
#[derive(Clone, Copy)]
struct Ctx(*mut c_void);

impl Ctx {
    fn get(self) -> *mut c_void {
        self.0
    }
}
// SAFETY: only carried to the program's own routine, never dereferenced here.
unsafe impl Send for Ctx {}
// SAFETY: as above.
unsafe impl Sync for Ctx {}

/// Extension: send the library's diagnostics (a journal it cannot open, a
/// link to another node down, a node stopping) to `callback` instead of
/// the program's standard error; `NULL` restores standard error, where
/// they go by default.
///
/// `callback(level, msg, ctx)`: `level` is `RTR_LOG_ERROR` (1),
/// `RTR_LOG_WARN` (2), `RTR_LOG_INFO` (3) or `RTR_LOG_DEBUG` (4); `msg` is
/// one line of text, NUL-terminated, without a newline, owned by the
/// library and valid only during the call (copy it to keep it); `ctx` is
/// the pointer given here, passed back untouched (an exception to the
/// header's ownership rule: the library keeps `ctx` until the next
/// registration, and never dereferences it).
///
/// Restrictions: the routine runs on whichever thread has something to say,
/// usually a library thread (the node's, a link's or a connection's), and
/// possibly several at once: it must be thread-safe, short and not block;
/// it must not call `rtr_set_log_callback` or another RTR routine (some
/// messages are delivered while the node waits for its thread). It is never
/// called with a library lock held by the log machinery. A message being
/// delivered while the registration changes may still reach the previous
/// routine.
///
/// Returns:
/// - `RTR_STS_OK`;
/// - `RTR_STS_INTERNAL`: an internal error (a bug).
///
/// Thread safety: may be called from any thread, before or after the node
/// starts (register first to see the messages of its start); the latest
/// registration wins.
#[no_mangle]
pub extern "C" fn rtr_set_log_callback(callback: rtr_log_callback_t, ctx: *mut c_void) -> rtr_status_t {
    let ctx = Ctx(ctx);
    guard(|| {
        let hook = callback.map(|f| -> rtr_core::log::Hook {
            Arc::new(move |level: Level, msg: &str| {
                // A NUL inside a message (from a peer's text) would cut it
                // short in C: shown as U+FFFD instead.
                let text = CString::new(msg.replace('\0', "\u{fffd}")).unwrap_or_default();
                // A method call captures the whole Ctx (Send + Sync), not its raw field.
                f(level as c_int, text.as_ptr(), ctx.get());
            })
        });
        rtr_core::log::set_hook(hook);
        Ok(())
    })
}
