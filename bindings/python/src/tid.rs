//! `rtr_tid_t` as an immutable Python value.

use pyo3::prelude::*;
use pyo3::types::PyTuple;

/// A transaction id: seven 32-bit words, unique across the facility and
/// across restarts. `str()` prints it as RTR does (seven hex words).
#[pyclass(module = "rtr._rtr", frozen, eq, hash)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tid(pub(crate) rtr_core::Tid);

#[pymethods]
impl Tid {
    /// A tid from its seven words (as `words` returns them).
    #[new]
    fn new(words: [u32; 7]) -> Self {
        Tid(rtr_core::Tid::from_words(words))
    }

    /// The seven words of the C `rtr_tid_t`.
    #[getter]
    fn words<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.0.to_words())
    }

    /// The node that started the transaction.
    #[getter]
    fn node(&self) -> u32 {
        self.0.node
    }

    /// That node's incarnation (different at every start of the node).
    #[getter]
    fn incarnation(&self) -> u32 {
        self.0.incarnation
    }

    /// The library connection that started the transaction.
    #[getter]
    fn conn(&self) -> u32 {
        self.0.conn
    }

    /// The connection's sequence number of the transaction.
    #[getter]
    fn seq(&self) -> u64 {
        self.0.seq
    }

    /// False for the all-zero tid of messages outside a transaction.
    fn __bool__(&self) -> bool {
        self.0 != rtr_core::Tid::default()
    }

    fn __str__(&self) -> String {
        self.0.to_string()
    }

    fn __repr__(&self) -> String {
        format!("Tid('{}')", self.0)
    }
}
