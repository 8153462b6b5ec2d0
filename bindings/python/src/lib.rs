//! `rtr._rtr`: the private native module behind the `rtr` Python package.
//!
//! It stays thin: it converts Python arguments, calls `rtr-core`'s channel
//! API ([`rtr_core::Rtr`]) and converts the results back. Every RTR rule
//! (flag checks, lengths, transaction states, routing) is in `rtr-core`; the
//! Python package (`python/rtr/`) builds the public API on top of this
//! module (enums, exceptions, channels, context managers).
//!
//! Threads: every call that can block (`receive`) releases the GIL, and a
//! long receive wakes up every [`connection::POLL_INTERVAL`] to let Python
//! run its signal handlers (Ctrl-C raises `KeyboardInterrupt` there).

mod args;
mod c_api;
mod connection;
mod errors;
mod fork;
mod log;
mod tables;
mod tid;

use pyo3::prelude::*;

/// Private native module of the `rtr` package: use `import rtr` instead.
#[pymodule]
mod _rtr {
    use pyo3::prelude::*;

    #[pymodule_export]
    use crate::connection::Connection;
    #[pymodule_export]
    use crate::tid::Tid;

    #[pymodule_export]
    use crate::tables::error_text;

    #[pymodule_export]
    use crate::log::set_log_handler;

    #[pymodule_export]
    use crate::log::_close_log_relay;

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        crate::fork::install();
        crate::tables::add_tables(m)
    }
}
