//! Errors from rtr-core (and from argument conversion) as Python exceptions.
//!
//! The exception classes and the one table that picks a class for each RTR
//! status live in the Python package (`rtr/_errors.py`: Python-defined
//! classes can carry attributes under the stable ABI, and the table sits next
//! to the classes it names). This module only hands over the status and the
//! message: every RTR error raised by the binding goes through
//! [`status_error`].

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use rtr_core::{RtrError, Status};

/// `rtr._errors.from_status`, looked up once.
static FROM_STATUS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The exception for `status` with `message`: an instance of the
/// `rtr.RtrError` subclass for the status's family.
pub(crate) fn status_error(py: Python<'_>, status: Status, message: String) -> PyErr {
    let make = FROM_STATUS.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        Ok(py.import("rtr._errors")?.getattr("from_status")?.unbind())
    });
    let made = make.and_then(|f| f.bind(py).call1((status.code(), message.clone())));
    match made {
        Ok(exc) => PyErr::from_value(exc),
        // The package is not importable (the module was loaded on its own):
        // still raise, with the status in the text.
        Err(_) => PyRuntimeError::new_err(format!("{}: {message}", status.name())),
    }
}

/// A core error as a Python exception.
pub(crate) fn core_error(py: Python<'_>, e: RtrError) -> PyErr {
    status_error(py, e.status(), e.to_string())
}

/// `.map_err` helper for core results.
pub(crate) trait OrRaise<T> {
    fn or_raise(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> OrRaise<T> for Result<T, RtrError> {
    fn or_raise(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| core_error(py, e))
    }
}
