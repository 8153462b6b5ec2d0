//! `rtr_tid_t` as an immutable Python value: hashable, ordered, picklable,
//! parsed back from its `str()`.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple, PyType};

/// A transaction id: seven 32-bit words, unique across the facility and
/// across restarts. `str()` prints it as RTR does (seven hex words joined by
/// commas) and `Tid.parse` (or `Tid(text)`) reads that back; `repr()` is
/// `Tid('...')`, which evaluates back to an equal tid. Tids are ordered by
/// (node, incarnation, conn, seq): the transactions one connection starts
/// sort in the order it started them.
#[pyclass(module = "rtr._rtr", frozen, eq, ord, hash)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tid(pub(crate) rtr_core::Tid);

fn parse(text: &str) -> PyResult<Tid> {
    text.parse::<rtr_core::Tid>().map(Tid).map_err(|e| PyValueError::new_err(e.to_string()))
}

#[pymethods]
impl Tid {
    /// A tid from its seven words (as `words` returns them), or from its
    /// text (as `str()` prints it).
    #[new]
    fn new(words: &Bound<'_, PyAny>) -> PyResult<Self> {
        if let Ok(s) = words.cast::<PyString>() {
            return parse(&s.to_cow()?);
        }
        let w: [u32; 7] = words.extract().map_err(|_| {
            PyTypeError::new_err("Tid() takes seven ints from 0 to 2**32-1, or a tid's text such as '1,2,3,0,4,0,0'")
        })?;
        Ok(Tid(rtr_core::Tid::from_words(w)))
    }

    /// The tid whose `str()` is `text` (seven hex words joined by commas).
    /// Raises ValueError for anything else.
    #[classmethod]
    fn parse(_cls: &Bound<'_, PyType>, text: &str) -> PyResult<Self> {
        parse(text)
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

    /// Pickled as its text (which `Tid()` takes back).
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyType>, (String,))> {
        Ok((slf.get_type(), (slf.get().0.to_string(),)))
    }

    /// Immutable: a copy is the tid itself.
    fn __copy__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __deepcopy__<'py>(slf: Bound<'py, Self>, _memo: &Bound<'py, PyAny>) -> Bound<'py, Self> {
        slf
    }
}
