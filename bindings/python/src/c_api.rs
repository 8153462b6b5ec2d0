//! The RTR C API (`rtr-ffi`) linked into the Python module.
//!
//! A Python process has one rtr-core, in this module; its process-wide
//! node is `Rtr::global()`. Linking `rtr-ffi` here exports the `rtr_*` C
//! functions from this module too, over that same `Rtr::global()`. C code
//! loaded into the Python process (`rtr.load_c_library`, which makes this
//! module's symbols global first) binds to them and so shares the node with
//! Python: a C server can serve a Python client and the reverse. Without
//! this, such C code would load its own `librtr.so`, with a node of its own
//! that Python could not reach.
//!
//! Nothing here is called from Rust: the link is the whole point.

extern crate rtr as _;
