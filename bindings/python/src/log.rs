//! `rtr.set_log_handler`: the library's diagnostics (`rtr_core::log`) to a
//! Python callable.
//!
//! The core calls its hook on library threads, the node's among them, which
//! must never wait for the GIL (a Python thread holding it may be waiting
//! for the node). So the hook only queues the message (bounded, never
//! blocking); a relay thread takes the GIL and calls the handler. A message
//! that cannot be queued (the queue is full, or a lock is taken) or
//! delivered (the interpreter is shutting down) goes to standard error,
//! where it would have gone without a handler: none is lost silently.
//!
//! A forked child has none of its parent's threads: the relay is started
//! again, lazily, in each fork generation.
//!
//! At interpreter exit (`atexit`, registered by `rtr/_log.py`, so before
//! finalization begins) the relay is closed (`_close_log_relay`): from then
//! on messages go to standard error, and the relay never attaches to an
//! interpreter that is finalizing (a library thread logging while the
//! process-wide node shut down at exit did, and the process died of a
//! segmentation fault after its work was done: the concurrent_server.py
//! example, about one run in two).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use rtr_core::log::Level;

/// Messages waiting for the relay before they overflow to stderr.
const QUEUE: usize = 1024;

/// The handler, called with the GIL held (cloned out of the lock first).
static HANDLER: Mutex<Option<Py<PyAny>>> = Mutex::new(None);
/// One message on its way to the relay.
type Queued = (Level, String);
/// The relay's queue, and the fork generation it was started in.
static RELAY: Mutex<Option<(u64, SyncSender<Queued>)>> = Mutex::new(None);
/// The interpreter is exiting: the relay calls no Python any more.
static CLOSED: AtomicBool = AtomicBool::new(false);
/// Held by the relay from its check of `CLOSED` to the end of a delivery,
/// so that closing can wait for a delivery under way.
static DELIVERING: Mutex<()> = Mutex::new(());

/// The `logging` module's number for a level.
fn logging_level(level: Level) -> i32 {
    match level {
        Level::Error => 40,
        Level::Warn => 30,
        Level::Info => 20,
        Level::Debug => 10,
    }
}

fn to_stderr(msg: &str) {
    eprintln!("{msg}");
}

/// The core's hook: queue the message for the relay (starting it if this
/// process image has none yet).
fn queue(level: Level, msg: &str) {
    // try_lock: a lock held by a thread that did not survive a fork, or by
    // a handler being replaced, must not block a library thread.
    let Ok(mut relay) = RELAY.try_lock() else { return to_stderr(msg) };
    let generation = crate::fork::generation();
    if relay.as_ref().is_none_or(|(g, _)| *g != generation) {
        *relay = start_relay().map(|tx| (generation, tx));
    }
    let Some((_, tx)) = relay.as_ref() else { return to_stderr(msg) };
    match tx.try_send((level, msg.to_string())) {
        Ok(()) => {}
        Err(TrySendError::Full((_, m)) | TrySendError::Disconnected((_, m))) => to_stderr(&m),
    }
}

fn start_relay() -> Option<SyncSender<Queued>> {
    let (tx, rx) = sync_channel::<Queued>(QUEUE);
    let relay = move || {
        while let Ok((level, msg)) = rx.recv() {
            let _delivering = DELIVERING.lock().unwrap_or_else(|e| e.into_inner());
            if CLOSED.load(Ordering::Acquire) {
                to_stderr(&msg);
                continue;
            }
            let delivered = Python::try_attach(|py| {
                let handler = HANDLER.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|h| h.clone_ref(py));
                match handler {
                    Some(h) => {
                        if let Err(e) = h.call1(py, (logging_level(level), msg.as_str())) {
                            // Like an exception in a thread: printed, not raised.
                            e.print(py);
                        }
                    }
                    None => to_stderr(&msg),
                }
            });
            if delivered.is_none() {
                to_stderr(&msg);
            }
        }
    };
    std::thread::Builder::new().name("rtr-py-log".into()).spawn(relay).ok().map(|_| tx)
}

/// `rtr.set_log_handler(handler)`: `handler(level, message)` (the level as
/// the `logging` module numbers it) takes the library's diagnostics from now
/// on, on a library thread; `None` sends them to standard error.
#[pyfunction]
#[pyo3(signature = (handler))]
pub(crate) fn set_log_handler(handler: Option<Bound<'_, PyAny>>) -> PyResult<()> {
    match handler {
        Some(h) if !h.is_callable() => {
            Err(pyo3::exceptions::PyTypeError::new_err("the log handler must be callable (or None)"))
        }
        Some(h) => {
            *HANDLER.lock().unwrap_or_else(|e| e.into_inner()) = Some(h.unbind());
            rtr_core::log::set_hook(Some(Arc::new(queue)));
            Ok(())
        }
        None => {
            rtr_core::log::set_hook(None);
            // Dropped with the GIL held (this call holds it).
            let _old = HANDLER.lock().unwrap_or_else(|e| e.into_inner()).take();
            Ok(())
        }
    }
}

/// `atexit` (registered by `rtr._log`): close the relay before the
/// interpreter finalizes. Later messages go to standard error; a delivery
/// under way is waited for (with the GIL released, as it needs the GIL).
#[pyfunction]
pub(crate) fn _close_log_relay(py: Python<'_>) {
    CLOSED.store(true, Ordering::Release);
    rtr_core::log::set_hook(None);
    py.detach(|| drop(DELIVERING.lock().unwrap_or_else(|e| e.into_inner())));
}
