//! The vocabulary tables of rtr-core, exposed as plain data so that the
//! Python package builds its enums from them (they can never drift from the
//! C header, which is generated from the same tables).

use pyo3::prelude::*;
use rtr_core::keyseg::{KeyType, MAX_NUMSEG};
use rtr_core::status::{text_for_code, Status};
use rtr_core::{flags, MsgType};

use crate::connection::POLL_INTERVAL;

/// The codes of `rtr_keyseg_type_t` for the key types this implementation
/// serves, with the values of the C header (`rtr_keyseg_unsigned` = 0, ...).
pub(crate) const KEY_TYPES: &[(&str, u32, KeyType)] =
    &[("UNSIGNED", 0, KeyType::Unsigned), ("SIGNED", 1, KeyType::Signed), ("STRING", 2, KeyType::String)];

/// `rtr_keyseg_partition` and `rtr_keyseg_rmname`: not key segments. A
/// partition's name is given with `open_channel(..., partition=NAME)`
/// rather than as a segment; XA is not supported (`RTR_STS_UNSUPPORTED`).
pub(crate) const UNSUPPORTED_KEY_TYPES: &[(&str, u32)] = &[("PARTITION", 3), ("RMNAME", 4)];

pub(crate) fn add_tables(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let flags: Vec<(&str, u32)> = flags::ALL_FLAGS.to_vec();
    m.add("FLAGS", flags)?;
    let msgtypes: Vec<(&str, u32)> = MsgType::ALL.iter().map(|t| (t.name(), t.code())).collect();
    m.add("MSGTYPES", msgtypes)?;
    let statuses: Vec<(&str, i32, &str)> = Status::ALL.iter().map(|s| (s.name(), s.code(), s.text())).collect();
    m.add("STATUSES", statuses)?;
    let key_types: Vec<(&str, u32)> =
        KEY_TYPES.iter().map(|(n, c, _)| (*n, *c)).chain(UNSUPPORTED_KEY_TYPES.iter().copied()).collect();
    m.add("KEY_TYPES", key_types)?;
    m.add("EVENTS", rtr_core::events::ALL_EVENTS.to_vec())?;
    m.add("MAX_MSGLEN", rtr_core::MAX_MSGLEN)?;
    m.add("MAX_CHANNELS", rtr_core::MAX_CHANNELS)?;
    m.add("MAX_NUMSEG", MAX_NUMSEG)?;
    m.add("DEFAULT_FACILITY", rtr_core::DEFAULT_FACILITY)?;
    m.add("POLL_INTERVAL", POLL_INTERVAL.as_secs_f64())?;
    Ok(())
}

/// The text of a status (`rtr_error_text`); a generic text for unknown values.
#[pyfunction]
pub(crate) fn error_text(status: i64) -> &'static str {
    match i32::try_from(status) {
        Ok(code) => text_for_code(code),
        Err(_) => text_for_code(0),
    }
}
