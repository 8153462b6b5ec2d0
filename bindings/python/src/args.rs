//! Conversion of Python arguments to the types rtr-core takes.
//!
//! A value of the wrong Python type raises `TypeError` (as any Python
//! function does). An integer of the right type but out of the range of its
//! C type raises the RTR error that the C API gives for a bad value of that
//! argument (a negative channel is `RTR_STS_INVCHANNEL`, a negative reason
//! `RTR_STS_INVREASON`, ...), never a crash and never a silent wrap-around.

use std::time::Duration;

use pyo3::exceptions::{PyOverflowError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyInt, PyString};
use rtr_core::keyseg::{KeyError, KeySegment, MAX_KEY_OFFSET_END};
use rtr_core::qualifier::{QualValue, Qualifier};
use rtr_core::{RtrError, Status};

use crate::errors::{core_error, status_error};
use crate::tables::{KEY_TYPES, UNSUPPORTED_KEY_TYPES};

/// An integer argument as i128; `None` if it is an int too large even for
/// that. Non-integers raise `TypeError`.
fn int_value(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Option<i128>> {
    // An int, or an object that stands for one (`__index__`: a channel
    // object, a numpy integer); never a float or a str.
    let owned;
    let obj = if obj.is_instance_of::<PyInt>() {
        obj
    } else {
        let index = obj.get_type().getattr("__index__").ok().and_then(|f| f.call1((obj,)).ok());
        match index {
            Some(i) if i.is_instance_of::<PyInt>() => {
                owned = i;
                &owned
            }
            _ => {
                return Err(PyTypeError::new_err(format!(
                    "{what} must be an int, not {}",
                    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
                )))
            }
        }
    };
    match obj.extract::<i128>() {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_instance_of::<PyOverflowError>(obj.py()) => Ok(None),
        Err(e) => Err(e),
    }
}

/// An unsigned 32-bit argument; out of range raises the error of `status`.
pub(crate) fn u32_arg(obj: &Bound<'_, PyAny>, what: &str, status: Status) -> PyResult<u32> {
    // The common case first: an int in range.
    if obj.is_instance_of::<PyInt>() {
        if let Ok(v) = obj.extract::<u32>() {
            return Ok(v);
        }
    }
    match int_value(obj, what)?.map(u32::try_from) {
        Some(Ok(v)) => Ok(v),
        _ => Err(status_error(obj.py(), status, format!("{what} {} is out of range (0 to {})", obj, u32::MAX))),
    }
}

pub(crate) fn channel(obj: &Bound<'_, PyAny>) -> PyResult<u32> {
    u32_arg(obj, "channel", Status::Invchannel)
}

pub(crate) fn flags(obj: &Bound<'_, PyAny>) -> PyResult<u32> {
    u32_arg(obj, "flags", Status::Invflags)
}

pub(crate) fn reason(obj: &Bound<'_, PyAny>) -> PyResult<u32> {
    u32_arg(obj, "reason", Status::Invreason)
}

/// A user handle: any value that fits a pointer-sized unsigned integer.
pub(crate) fn usrhdl(obj: &Bound<'_, PyAny>) -> PyResult<usize> {
    match int_value(obj, "user handle")?.map(usize::try_from) {
        Some(Ok(v)) => Ok(v),
        _ => Err(PyOverflowError::new_err(format!(
            "user handle {obj} does not fit an unsigned {}-bit integer",
            usize::BITS
        ))),
    }
}

/// `start_tx`'s timeout in milliseconds: `None` or 0 for none.
pub(crate) fn timeout_ms(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<u32>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => u32_arg(o, "timeout_ms", Status::Invtimoutms).map(Some),
    }
}

/// A receive timeout in seconds (float or int): `None` or `math.inf` waits
/// forever (so does any timeout too long for a `Duration`), 0 polls.
/// Negative or NaN values raise `RTR_STS_INVTIMOUTMS`.
pub(crate) fn timeout_secs(py: Python<'_>, t: Option<f64>) -> PyResult<Option<Duration>> {
    match t {
        None => Ok(None),
        Some(s) if s.is_nan() || s < 0.0 => {
            Err(status_error(py, Status::Invtimoutms, format!("timeout {s} is not a number of seconds >= 0")))
        }
        // Too long for a Duration (math.inf among them): no end.
        Some(s) => Ok(Duration::try_from_secs_f64(s).ok()),
    }
}

/// Which channels a receive listens to: `None` (every channel of the
/// connection), one channel, or an iterable of channels.
pub(crate) fn receive_list(obj: Option<&Bound<'_, PyAny>>) -> PyResult<rtr_core::Which> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(rtr_core::Which::Any);
    };
    if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyBytes>() {
        return Err(PyTypeError::new_err("channels must be None, a channel or an iterable of channels"));
    }
    if obj.is_instance_of::<PyInt>() || obj.get_type().getattr("__index__").is_ok() {
        return Ok(rtr_core::Which::List(vec![channel(obj)?]));
    }
    let mut list = Vec::new();
    for item in obj.try_iter()? {
        list.push(channel(&item?)?);
    }
    Ok(rtr_core::Which::List(list))
}

/// Message data: any object with the buffer protocol that is bytes-like
/// (bytes, bytearray, memoryview), or str (sent as UTF-8).
pub(crate) fn data(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(s.to_cow()?.as_bytes().to_vec());
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(b.to_vec());
    }
    // memoryview, array.array, ...: through memoryview(obj).tobytes().
    match py_bytes(obj) {
        Some(b) => Ok(b),
        None => Err(PyTypeError::new_err(format!(
            "message data must be bytes-like or str, not {}",
            obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
        ))),
    }
}

/// `bytes(obj)` for buffer objects (not ints: `bytes(5)` is five zeros).
fn py_bytes(obj: &Bound<'_, PyAny>) -> Option<Vec<u8>> {
    if obj.is_instance_of::<PyInt>() {
        return None;
    }
    let py = obj.py();
    let memoryview = py.import("builtins").ok()?.getattr("memoryview").ok()?;
    let view = memoryview.call1((obj,)).ok()?;
    let bytes = view.call_method0("tobytes").ok()?;
    bytes.cast::<PyBytes>().ok().map(|b| b.as_bytes().to_vec())
}

/// An optional string argument (facility, recipient, access).
/// Optional message data: `None` (or absent) is an empty message.
pub(crate) fn opt_data(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<u8>> {
    match obj {
        Some(d) if !d.is_none() => data(d),
        _ => Ok(Vec::new()),
    }
}

pub(crate) fn opt_str(obj: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Option<String>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => match o.cast::<PyString>() {
            Ok(s) => Ok(Some(s.to_cow()?.into_owned())),
            Err(_) => Err(PyTypeError::new_err(format!("{what} must be a str or None"))),
        },
    }
}

/// The event list of `open_channel` (event numbers and list markers).
pub(crate) fn events(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<i32>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for item in obj.try_iter()? {
        let item = item?;
        match int_value(&item, "event number")?.map(i32::try_from) {
            Some(Ok(v)) => out.push(v),
            _ => {
                return Err(status_error(obj.py(), Status::Invpevtnum, format!("event number {item} is out of range")))
            }
        }
    }
    Ok(out)
}

/// A key segment as Python gives it: (type, length, offset, low, high).
type KeyTuple<'py> = (Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>);

/// Key segments given as tuples `(type, length, offset, low, high)`; a
/// bound is None (the type's extreme), an int (numeric keys: written as
/// `length` native-endian bytes), bytes or str (raw bytes).
pub(crate) fn key_segments(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<KeySegment>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(Vec::new());
    };
    let py = obj.py();
    let items: Vec<Bound<'_, PyAny>> = obj.try_iter()?.collect::<PyResult<_>>()?;
    if items.len() > rtr_core::keyseg::MAX_NUMSEG {
        return Err(core_error(py, KeyError::TooManySegments { count: items.len() }.into()));
    }
    let mut out = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let (ty, length, offset, low, high): KeyTuple<'_> = item.extract().map_err(|_| {
            PyTypeError::new_err(format!("key segment {index} must be a (type, length, offset, low, high) tuple"))
        })?;
        let bad = |why: String| core_error(py, RtrError::Key(KeyError::BadSegment { index, why }));
        let ty_code = u32_arg(&ty, "key type", Status::Invpkeyseg)?;
        let key_type = match KEY_TYPES.iter().find(|(_, c, _)| *c == ty_code) {
            Some((_, _, t)) => *t,
            None if UNSUPPORTED_KEY_TYPES.iter().any(|(_, c)| *c == ty_code) => {
                return Err(status_error(
                    py,
                    Status::Unsupported,
                    format!(
                        "key segment {index}: key type {ty_code} is not a key (name a partition with \
                         partition=NAME; XA is not supported)"
                    ),
                ))
            }
            None => return Err(bad(format!("unknown key type {ty_code}"))),
        };
        let length = u32_arg(&length, "key length", Status::Invpkeyseg)?;
        let offset = u32_arg(&offset, "key offset", Status::Invpkeyseg)?;
        if length as usize > MAX_KEY_OFFSET_END {
            return Err(bad(format!("length {length} exceeds the maximum message length {MAX_KEY_OFFSET_END}")));
        }
        let lo = bound(&low, key_type, length, "low").map_err(bad)?;
        let hi = bound(&high, key_type, length, "high").map_err(bad)?;
        let seg = KeySegment::new(index, key_type, length, offset, lo.as_deref(), hi.as_deref())
            .map_err(|e| core_error(py, e.into()))?;
        out.push(seg);
    }
    Ok(out)
}

/// One bound as raw bytes. Errors are the text of an `RTR_STS_INVPKEYSEG`.
fn bound(
    obj: &Bound<'_, PyAny>,
    key_type: rtr_core::keyseg::KeyType,
    length: u32,
    which: &str,
) -> Result<Option<Vec<u8>>, String> {
    use rtr_core::keyseg::KeyType;
    if obj.is_none() {
        return Ok(None);
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return s.to_cow().map(|s| Some(s.as_bytes().to_vec())).map_err(|e| format!("{which} bound: {e}"));
    }
    if obj.is_instance_of::<PyInt>() {
        let v = obj.extract::<i128>().map_err(|_| format!("{which} bound {obj} is out of range"))?;
        let width = length as usize;
        return match key_type {
            // An invalid numeric length is reported by KeySegment::new
            // (RTR_STS_INVMSGSIZE): hand it any bytes of that length.
            KeyType::Unsigned | KeyType::Signed if !matches!(length, 1 | 2 | 4 | 8) => Ok(Some(vec![0; width.min(8)])),
            KeyType::Unsigned => {
                let max = if width == 8 { u64::MAX as i128 } else { (1i128 << (8 * width)) - 1 };
                if !(0..=max).contains(&v) {
                    return Err(format!("{which} bound {v} does not fit an unsigned {length}-byte key"));
                }
                Ok(Some(native_bytes(v, width)))
            }
            KeyType::Signed => {
                let half = 1i128 << (8 * width - 1);
                if !(-half..half).contains(&v) {
                    return Err(format!("{which} bound {v} does not fit a signed {length}-byte key"));
                }
                Ok(Some(native_bytes(v, width)))
            }
            KeyType::String => Err(format!("{which} bound of a string key must be bytes or str, not int")),
        };
    }
    match py_bytes(obj) {
        Some(b) => Ok(Some(b)),
        None => Err(format!("{which} bound must be None, an int, bytes or str")),
    }
}

/// The low `width` (1, 2, 4 or 8) bytes of `v` in native byte order: the
/// bytes a C program has in memory for an integer key of that width.
fn native_bytes(v: i128, width: usize) -> Vec<u8> {
    // `as` keeps the low bits (two's complement), which is the C value for
    // every v that the callers checked to fit.
    match width {
        1 => (v as u8).to_ne_bytes().to_vec(),
        2 => (v as u16).to_ne_bytes().to_vec(),
        4 => (v as u32).to_ne_bytes().to_vec(),
        _ => (v as u64).to_ne_bytes().to_vec(),
    }
}

/// A verb or managed object of `set_info`: its C name (`"verb_set"`,
/// `"rtr_partition_object"`, without regard to case) or its code. An
/// unknown name or an out-of-range code raises `RTR_STS_INVOBJCT`, as core
/// does for an unknown code.
pub(crate) fn named_code(obj: &Bound<'_, PyAny>, table: &[(&str, u32, &str)], what: &str) -> PyResult<u32> {
    if let Ok(s) = obj.cast::<PyString>() {
        let name = s.to_cow()?;
        return table.iter().find(|(n, _, _)| n.eq_ignore_ascii_case(&name)).map(|(_, c, _)| *c).ok_or_else(|| {
            let known: Vec<&str> = table.iter().map(|(n, _, _)| *n).collect();
            status_error(obj.py(), Status::Invobjct, format!("unknown {what} {name:?} (known: {})", known.join(", ")))
        });
    }
    u32_arg(obj, what, Status::Invobjct)
}

/// A qualifier list of `set_info`: a mapping `{qualifier: value}` or an
/// iterable of `(qualifier, value)` pairs. A qualifier is its C name
/// (`"rtr_partition_state_suspend"`, without regard to case) or its code; a
/// value is None, an int (`rtr_uns_32_t`) or a str. An unknown name or a
/// value out of range raises the list's `status` (`RTR_STS_INVSELITM` for
/// the select list, `RTR_STS_INVQUALIFIER` for the set list).
pub(crate) fn qualifiers(obj: &Bound<'_, PyAny>, status: Status) -> PyResult<Vec<(u32, QualValue)>> {
    let py = obj.py();
    let pairs: Vec<(Bound<'_, PyAny>, Bound<'_, PyAny>)> = if let Ok(d) = obj.cast::<PyDict>() {
        d.iter().collect()
    } else if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyBytes>() {
        return Err(PyTypeError::new_err("qualifiers must be a dict or an iterable of (qualifier, value) pairs"));
    } else {
        let mut v = Vec::new();
        for item in obj.try_iter()? {
            let pair = item?.extract().map_err(|_| {
                PyTypeError::new_err("qualifiers must be a dict or an iterable of (qualifier, value) pairs")
            })?;
            v.push(pair);
        }
        v
    };
    let mut out = Vec::with_capacity(pairs.len());
    for (q, v) in pairs {
        let code = if let Ok(s) = q.cast::<PyString>() {
            let name = s.to_cow()?;
            Qualifier::from_name(&name)
                .ok_or_else(|| status_error(py, status, format!("unknown qualifier {name:?}")))?
                .code()
        } else {
            u32_arg(&q, "qualifier", status)?
        };
        let value = if v.is_none() {
            QualValue::None
        } else if let Ok(s) = v.cast::<PyString>() {
            QualValue::Text(s.to_cow()?.into_owned())
        } else if v.is_instance_of::<PyInt>() || v.get_type().getattr("__index__").is_ok() {
            QualValue::Number(u32_arg(&v, "qualifier value", status)?)
        } else {
            return Err(PyTypeError::new_err(format!(
                "a qualifier value must be None, an int or a str, not {}",
                v.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
            )));
        };
        out.push((code, value));
    }
    Ok(out)
}
