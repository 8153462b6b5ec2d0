//! librtr: the RTR C API over rtr-core.
//!
//! This crate is only argument conversion: every exported function checks
//! its pointers and lengths, converts C arguments to core types, calls the
//! process-wide [`rtr_core::Rtr`] and maps the result to an `rtr_status_t`.
//! All rules of the API live in rtr-core. The doc comments of the exported
//! items are the C manual: cbindgen copies them into `include/rtr.h`
//! (`cargo run -p xtask -- header`).
//!
//! Modules: [`types`] (the C types), [`channel`] (open, close, user
//! handle), [`tx`] (start, send, reply, accept, reject, tid), [`receive`],
//! [`info`] (`rtr_request_info`, `rtr_set_info`),
//! [`errors`] (`rtr_error_text`), [`log`] (`rtr_set_log_callback`) and `boundary` (the panic boundary and the
//! only code that touches caller pointers).

mod boundary;
pub mod channel;
pub mod errors;
pub mod events;
pub mod info;
pub mod log;
pub mod receive;
pub mod tx;
pub mod types;
pub mod wakeup;

#[cfg(test)]
mod test_support;

pub use channel::*;
pub use errors::*;
pub use events::*;
pub use info::*;
pub use log::*;
pub use receive::*;
pub use tx::*;
pub use types::*;
pub use wakeup::*;
