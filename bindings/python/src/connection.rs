//! `Connection`: one [`Rtr`] library connection and the RTR calls on it.
//!
//! Each method extracts and checks its Python arguments first, then calls
//! rtr-core with plain Rust values. Only `receive` can block; it runs with
//! the GIL released.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use rtr_core::{EmbeddedConfig, OpenParams, Rtr, RtrError, Status};

use crate::args;
use crate::errors::{core_error, status_error, OrRaise};
use crate::fork;
use crate::tid::Tid;

/// The longest a receive waits in core before it lets Python look at its
/// signals (Ctrl-C interrupts a blocking receive within this time).
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// What `receive` returns: (channel, msgtype code, user handle, tid, event
/// number, data, status, reason); status and reason are None for message
/// types that carry no `rtr_status_data_t`.
type Received<'py> = (u32, u32, usize, Tid, i32, Bound<'py, PyBytes>, Option<i32>, Option<u32>);

/// One library connection to an RTR node (what one process has).
#[pyclass(module = "rtr._rtr", frozen)]
pub struct Connection {
    /// None once closed. Each call takes a clone (an `Arc`) for its
    /// duration, so `close` never waits for a call in progress, and a
    /// receive notices the close at its next poll slice.
    rtr: Mutex<Option<Rtr>>,
    /// The process (and fork generation) it was made in: see [`fork`].
    origin: fork::Origin,
    /// The wakeup relay: while a Python wakeup routine is set, this ends
    /// the relay thread when dropped (with the routine registered in core).
    wakeup: Mutex<Option<std::sync::mpsc::SyncSender<()>>>,
}

impl Connection {
    fn new(rtr: Rtr, origin: fork::Origin) -> Connection {
        Connection { rtr: Mutex::new(Some(rtr)), origin, wakeup: Mutex::new(None) }
    }

    /// The core connection for one call: an error if this connection was
    /// closed, or was inherited across a `fork()` (checked first: in a
    /// child, a lock held by a parent's thread at the fork is never freed).
    fn rtr(&self, py: Python<'_>) -> PyResult<Rtr> {
        self.origin.check(py)?;
        let slot = self.rtr.lock().unwrap_or_else(|e| e.into_inner());
        slot.clone().ok_or_else(|| status_error(py, Status::Chanclosed, "the connection is closed".into()))
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // A connection inherited across a fork is not ours to disconnect:
        // dropping it would tell the parent's node (through a socket the
        // child shares) that the parent went away. Leak it instead.
        if self.origin.is_stale() {
            let slot = self.rtr.get_mut().unwrap_or_else(|e| e.into_inner());
            std::mem::forget(slot.take());
            std::mem::forget(self.wakeup.get_mut().unwrap_or_else(|e| e.into_inner()).take());
        }
    }
}

#[pymethods]
impl Connection {
    /// The process-wide connection (the one the C API uses in a C
    /// program): to the node daemon whose socket `$RTR_NODE_SOCKET` names,
    /// or else the embedded node, started on first use, with its journal in
    /// `$RTR_JOURNAL_DIR` (`./rtr-journal` when unset, none for `none`).
    #[staticmethod]
    fn process(py: Python<'_>) -> PyResult<Self> {
        // The first call opens the journal (file I/O and a sync).
        let origin = fork::Origin::process_wide(py)?;
        let rtr = py.detach(|| Rtr::global().cloned()).or_raise(py)?;
        Ok(Connection::new(rtr, origin))
    }

    /// A new embedded node of its own, and a connection to it. With
    /// `journal_dir`, the node keeps its journal there; without, it has none.
    #[staticmethod]
    #[pyo3(signature = (journal_dir=None))]
    fn embedded(py: Python<'_>, journal_dir: Option<PathBuf>) -> PyResult<Self> {
        let cfg = match journal_dir {
            Some(dir) => EmbeddedConfig::journaled(dir),
            None => EmbeddedConfig::default(),
        };
        let rtr = py.detach(|| Rtr::embedded_with(cfg)).or_raise(py)?;
        Ok(Connection::new(rtr, fork::Origin::here()))
    }

    /// A connection to the node daemon listening on the Unix socket
    /// `socket` (what `rtr start` prints), as a separate process has.
    #[staticmethod]
    fn daemon(py: Python<'_>, socket: PathBuf) -> PyResult<Self> {
        let rtr = py.detach(|| Rtr::connect_socket(socket)).or_raise(py)?;
        Ok(Connection::new(rtr, fork::Origin::here()))
    }

    /// Another connection to the same node: behaves like a second process
    /// attached to it (its own channels; closing it is a process exit).
    fn connect(&self, py: Python<'_>) -> PyResult<Self> {
        let rtr = self.rtr(py)?.connect_again().or_raise(py)?;
        Ok(Connection::new(rtr, fork::Origin::here()))
    }

    /// Detach from the node: later calls raise `RTR_STS_CHANCLOSED`, a
    /// receive waiting in another thread ends within a poll slice. When no
    /// other handle shares the core connection (every connection but the
    /// process-wide one), the node closes its channels as at a process exit.
    /// Closing twice does nothing.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.origin.check(py)?;
        let taken = self.rtr.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(rtr) = taken {
            let _ = rtr.set_wakeup(None);
            *self.wakeup.lock().unwrap_or_else(|e| e.into_inner()) = None;
            py.detach(move || drop(rtr));
        }
        Ok(())
    }

    /// Whether `close` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.rtr.lock().unwrap_or_else(|e| e.into_inner()).is_none()
    }

    /// `rtr_open_channel`. Returns the channel id; the outcome arrives as
    /// `rtr_mt_opened` or `rtr_mt_closed`.
    // The arguments of rtr_open_channel, one for one.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (flags, facility=None, recipient=None, events=None, access=None, keys=None, partition=None))]
    fn open_channel(
        &self,
        py: Python<'_>,
        flags: &Bound<'_, PyAny>,
        facility: Option<&Bound<'_, PyAny>>,
        recipient: Option<&Bound<'_, PyAny>>,
        events: Option<&Bound<'_, PyAny>>,
        access: Option<&Bound<'_, PyAny>>,
        keys: Option<&Bound<'_, PyAny>>,
        partition: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<u32> {
        let params = OpenParams {
            flags: args::flags(flags)?,
            facility: args::opt_str(facility, "facility")?,
            recipient: args::opt_str(recipient, "recipient")?,
            access: args::opt_str(access, "access")?,
            events: args::events(events)?,
            segments: args::key_segments(keys)?,
            partition: args::opt_str(partition, "partition")?,
        };
        self.rtr(py)?.open_channel(params).or_raise(py)
    }

    /// `rtr_close_channel`.
    #[pyo3(signature = (channel, flags=None))]
    fn close_channel(
        &self,
        py: Python<'_>,
        channel: &Bound<'_, PyAny>,
        flags: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let chan = args::channel(channel)?;
        let fl = opt_flags(flags)?;
        self.rtr(py)?.close_channel(chan, fl).or_raise(py)
    }

    /// `rtr_start_tx`; `timeout_ms` None or 0: no transaction timeout.
    #[pyo3(signature = (channel, flags=None, timeout_ms=None))]
    fn start_tx(
        &self,
        py: Python<'_>,
        channel: &Bound<'_, PyAny>,
        flags: Option<&Bound<'_, PyAny>>,
        timeout_ms: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let chan = args::channel(channel)?;
        let fl = opt_flags(flags)?;
        let t = args::timeout_ms(timeout_ms)?;
        self.rtr(py)?.start_tx(chan, fl, t).or_raise(py)
    }

    /// `rtr_send_to_server`.
    #[pyo3(signature = (channel, data, flags=None))]
    fn send_to_server(
        &self,
        py: Python<'_>,
        channel: &Bound<'_, PyAny>,
        data: &Bound<'_, PyAny>,
        flags: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let chan = args::channel(channel)?;
        let fl = opt_flags(flags)?;
        let msg = args::data(data)?;
        self.rtr(py)?.send_to_server(chan, fl, &msg).or_raise(py)
    }

    /// `rtr_set_wakeup`: `callback()` is called (with no argument) when a
    /// message arrives for this connection while none was waiting; None
    /// removes it. The core calls its routine on the thread that delivers
    /// (the node's), which must never wait for the GIL: it only pokes a
    /// relay thread, which calls the Python callback with the GIL held.
    /// Several arrivals before the relay runs give one call.
    #[pyo3(signature = (callback=None))]
    fn set_wakeup(&self, py: Python<'_>, callback: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        let mut slot = self.wakeup.lock().unwrap_or_else(|e| e.into_inner());
        // Unregister first: the old routine's sender goes with it, and
        // dropping ours ends the old relay thread.
        self.rtr(py)?.set_wakeup(None).or_raise(py)?;
        *slot = None;
        let Some(cb) = callback else { return Ok(()) };
        if !cb.is_callable() {
            return Err(pyo3::exceptions::PyTypeError::new_err("the wakeup routine must be callable (or None)"));
        }
        let cb: Py<PyAny> = cb.unbind();
        let (tx, rx) = std::sync::mpsc::sync_channel::<()>(1);
        std::thread::Builder::new()
            .name("rtr-py-wakeup".into())
            .spawn(move || {
                while rx.recv().is_ok() {
                    Python::attach(|py| {
                        if let Err(e) = cb.call0(py) {
                            // Like an exception in a thread: printed, not raised.
                            e.print(py);
                        }
                    });
                }
            })
            .map_err(|e| pyo3::exceptions::PyOSError::new_err(format!("cannot start the wakeup thread: {e}")))?;
        let poke = tx.clone();
        let routine: rtr_core::api::WakeupFn = std::sync::Arc::new(move || {
            let _ = poke.try_send(());
        });
        self.rtr(py)?.set_wakeup(Some(routine)).or_raise(py)?;
        *slot = Some(tx);
        Ok(())
    }

    /// Events dropped: broadcasts whose channel already held 4096
    /// unreceived ones, and events a node daemon dropped while this
    /// connection was not reading past its bound (`rtr_get_events_dropped`).
    fn events_dropped(&self, py: Python<'_>) -> PyResult<u64> {
        self.rtr(py)?.events_dropped().or_raise(py)
    }

    /// The wakeup descriptor (`rtr_get_wakeup_fd`): readable exactly while
    /// a message waits for this connection. Owned by the library.
    fn wakeup_fd(&self, py: Python<'_>) -> PyResult<i32> {
        self.rtr(py)?.wakeup_fd().or_raise(py)
    }

    /// The arrival descriptor (an extension for event loops, not in the C
    /// API): made readable by every delivery to this connection, unreadable
    /// once its reader reads 8 bytes from it. Owned by the library.
    fn arrival_fd(&self, py: Python<'_>) -> PyResult<i32> {
        self.rtr(py)?.arrival_fd().or_raise(py)
    }

    /// `rtr_prepare_tx`.
    #[pyo3(signature = (channel, reason=None, data=None, flags=None))]
    fn prepare_tx(
        &self,
        py: Python<'_>,
        channel: &Bound<'_, PyAny>,
        reason: Option<&Bound<'_, PyAny>>,
        data: Option<&Bound<'_, PyAny>>,
        flags: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let chan = args::channel(channel)?;
        let fl = opt_flags(flags)?;
        let r = opt_reason(reason)?;
        let blob = args::opt_data(data)?;
        self.rtr(py)?.prepare_tx(chan, fl, r, &blob).or_raise(py)
    }

    /// `rtr_broadcast_event`.
    #[pyo3(signature = (channel, evtnum, data=None, recipient=None, flags=None))]
    fn broadcast_event(
        &self,
        py: Python<'_>,
        channel: &Bound<'_, PyAny>,
        evtnum: i64,
        data: Option<&Bound<'_, PyAny>>,
        recipient: Option<&Bound<'_, PyAny>>,
        flags: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let chan = args::channel(channel)?;
        let fl = opt_flags(flags)?;
        let msg = args::opt_data(data)?;
        let spec = args::opt_str(recipient, "recipient")?;
        // Out of i32 range is as invalid as any other non-user event.
        let evt = i32::try_from(evtnum).unwrap_or(-1);
        self.rtr(py)?.broadcast_event(chan, fl, &msg, evt, spec.as_deref()).or_raise(py)
    }

    /// `rtr_reply_to_client`.
    #[pyo3(signature = (channel, data, flags=None))]
    fn reply_to_client(
        &self,
        py: Python<'_>,
        channel: &Bound<'_, PyAny>,
        data: &Bound<'_, PyAny>,
        flags: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let chan = args::channel(channel)?;
        let fl = opt_flags(flags)?;
        let msg = args::data(data)?;
        self.rtr(py)?.reply_to_client(chan, fl, &msg).or_raise(py)
    }

    /// `rtr_accept_tx`.
    #[pyo3(signature = (channel, flags=None, reason=None))]
    fn accept_tx(
        &self,
        py: Python<'_>,
        channel: &Bound<'_, PyAny>,
        flags: Option<&Bound<'_, PyAny>>,
        reason: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let chan = args::channel(channel)?;
        let fl = opt_flags(flags)?;
        let r = opt_reason(reason)?;
        self.rtr(py)?.accept_tx(chan, fl, r).or_raise(py)
    }

    /// `rtr_reject_tx`.
    #[pyo3(signature = (channel, flags=None, reason=None))]
    fn reject_tx(
        &self,
        py: Python<'_>,
        channel: &Bound<'_, PyAny>,
        flags: Option<&Bound<'_, PyAny>>,
        reason: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let chan = args::channel(channel)?;
        let fl = opt_flags(flags)?;
        let r = opt_reason(reason)?;
        self.rtr(py)?.reject_tx(chan, fl, r).or_raise(py)
    }

    /// `rtr_get_tid`: the transaction active on the channel.
    #[pyo3(signature = (channel, flags=None))]
    fn get_tid(&self, py: Python<'_>, channel: &Bound<'_, PyAny>, flags: Option<&Bound<'_, PyAny>>) -> PyResult<Tid> {
        let chan = args::channel(channel)?;
        let fl = opt_flags(flags)?;
        self.rtr(py)?.get_tid(chan, fl).map(Tid).or_raise(py)
    }

    /// `rtr_get_fence`: the fencing token of the last transaction message
    /// the server channel received (`docs/fencing.md`).
    fn get_fence(&self, py: Python<'_>, channel: &Bound<'_, PyAny>) -> PyResult<u64> {
        let chan = args::channel(channel)?;
        self.rtr(py)?.get_fence(chan).or_raise(py)
    }

    /// `rtr_set_user_handle`.
    fn set_user_handle(&self, py: Python<'_>, channel: &Bound<'_, PyAny>, handle: &Bound<'_, PyAny>) -> PyResult<()> {
        let chan = args::channel(channel)?;
        let h = args::usrhdl(handle)?;
        self.rtr(py)?.set_user_handle(chan, h).or_raise(py)
    }

    /// The channel's user handle (extension `rtr_get_user_handle`).
    fn get_user_handle(&self, py: Python<'_>, channel: &Bound<'_, PyAny>) -> PyResult<usize> {
        let chan = args::channel(channel)?;
        self.rtr(py)?.get_user_handle(chan).or_raise(py)
    }

    /// `rtr_request_info`: opens an information channel holding one
    /// `rtr_mt_request_info` record per selected object, then
    /// `rtr_mt_closed`. Returns the channel id. `getitms`: a comma-separated
    /// str; None, "" or "*" for every item (likewise `selitm` selects every
    /// object). The query runs with the GIL released.
    #[pyo3(signature = (infcla, selitm=None, selval=None, getitms=None, flags=None))]
    fn request_info(
        &self,
        py: Python<'_>,
        infcla: &Bound<'_, PyAny>,
        selitm: Option<&Bound<'_, PyAny>>,
        selval: Option<&Bound<'_, PyAny>>,
        getitms: Option<&Bound<'_, PyAny>>,
        flags: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<u32> {
        let infcla = args::opt_str(Some(infcla), "infcla")?.unwrap_or_default();
        let selitm = args::opt_str(selitm, "selitm")?.unwrap_or_default();
        let selval = args::opt_str(selval, "selval")?.unwrap_or_default();
        let getitms = args::opt_str(getitms, "getitms")?.unwrap_or_default();
        let fl = opt_flags(flags)?;
        {
            let rtr = self.rtr(py)?;
            py.detach(|| rtr.request_info(fl, &infcla, &selitm, &selval, &getitms)).or_raise(py)
        }
    }

    /// `rtr_set_info`: `verb` and `object` by C name or code; `select` and
    /// `set` as a dict or an iterable of (qualifier, value) pairs, the
    /// qualifier by C name or code, the value None, an int or a str. Opens
    /// an information channel on which one `rtr_mt_closed` gives the result;
    /// returns its id. Runs with the GIL released.
    #[pyo3(signature = (verb, object, select, set, flags=None))]
    fn set_info(
        &self,
        py: Python<'_>,
        verb: &Bound<'_, PyAny>,
        object: &Bound<'_, PyAny>,
        select: &Bound<'_, PyAny>,
        set: &Bound<'_, PyAny>,
        flags: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<u32> {
        use rtr_core::qualifier::{OBJECTS, VERBS};
        let verb = args::named_code(verb, VERBS, "verb")?;
        let object = args::named_code(object, OBJECTS, "managed object")?;
        let select = args::qualifiers(select, rtr_core::Status::Invselitm)?;
        let set = args::qualifiers(set, rtr_core::Status::Invqualifier)?;
        let fl = opt_flags(flags)?;
        {
            let rtr = self.rtr(py)?;
            py.detach(|| rtr.set_info(fl, verb, object, &select, &set)).or_raise(py)
        }
    }

    /// A receive that does not wait: the next message on `channels`, or
    /// None when none waits (where `receive(channels, 0)` raises the
    /// timeout). For event loops, which try often and mostly find nothing:
    /// no exception is made for that.
    #[pyo3(signature = (channels=None))]
    fn try_receive<'py>(
        &self,
        py: Python<'py>,
        channels: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Option<Received<'py>>> {
        let which = args::receive_list(channels)?;
        let rtr = self.rtr(py)?;
        match rtr.receive(&which, Some(Duration::ZERO)) {
            Ok(m) => Ok(Some(received(py, m))),
            Err(RtrError::Timeout) => Ok(None),
            Err(e) => Err(core_error(py, e)),
        }
    }

    /// `rtr_receive_message`: the next message on `channels` (None: every
    /// channel of this connection; a channel; or an iterable of channels),
    /// waiting at most `timeout` seconds (None: for ever; 0: poll). Raises
    /// the `RTR_STS_TIMOUT` error when nothing arrived in time.
    ///
    /// The GIL is released while waiting. The wait is cut into slices of
    /// `POLL_INTERVAL`, between which Python signal handlers run, so Ctrl-C
    /// interrupts it.
    #[pyo3(signature = (channels=None, timeout=None))]
    fn receive<'py>(
        &self,
        py: Python<'py>,
        channels: Option<&Bound<'py, PyAny>>,
        timeout: Option<f64>,
    ) -> PyResult<Received<'py>> {
        let which = args::receive_list(channels)?;
        let deadline = args::timeout_secs(py, timeout)?.map(|t| Instant::now().checked_add(t));
        // A timeout too large to add to now is a wait for ever.
        let deadline = deadline.flatten();
        loop {
            let slice = match deadline {
                None => POLL_INTERVAL,
                Some(d) => d.saturating_duration_since(Instant::now()).min(POLL_INTERVAL),
            };
            let rtr = self.rtr(py)?;
            match py.detach(|| rtr.receive(&which, Some(slice))) {
                Ok(m) => return Ok(received(py, m)),
                Err(RtrError::Timeout) => {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Err(core_error(py, RtrError::Timeout));
                    }
                    py.check_signals()?;
                }
                Err(e) => return Err(core_error(py, e)),
            }
        }
    }
}

fn received(py: Python<'_>, m: rtr_core::Message) -> Received<'_> {
    let (status, reason) = match m.status() {
        Some((s, r)) => (Some(s), Some(r)),
        None => (None, None),
    };
    let sb = m.sb;
    (sb.channel, sb.msgtype.code(), sb.usrhdl, Tid(sb.tid), sb.evtnum, PyBytes::new(py, &m.data), status, reason)
}

fn opt_flags(obj: Option<&Bound<'_, PyAny>>) -> PyResult<u32> {
    obj.filter(|o| !o.is_none()).map_or(Ok(0), args::flags)
}

fn opt_reason(obj: Option<&Bound<'_, PyAny>>) -> PyResult<u32> {
    obj.filter(|o| !o.is_none()).map_or(Ok(0), args::reason)
}
