//! The RTR C API.
