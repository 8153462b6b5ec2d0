"""Connections to an RTR node, the RTR calls on them, and the module-level
functions that use the process-wide connection."""

from __future__ import annotations

import os
import threading
from types import TracebackType
from typing import (
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Set,
    Tuple,
    Type,
    Union,
)

from . import _rtr
from ._enums import MsgType, OpenFlag, Status
from ._errors import InvalidChannel, Timeout, from_status
from ._keys import KeySegment, _native_keys
from ._keywords import _c_order
from ._message import Message
from ._rtr import Tid

ChannelLike = Union[int, "Channel"]
Channels = Union[None, ChannelLike, Iterable[ChannelLike]]
Keys = Union[None, KeySegment, Sequence[Union[KeySegment, tuple]]]  # type: ignore[type-arg]
# Message data: bytes-like objects are sent as they are, a str UTF-8 encoded.
Data = Union[bytes, bytearray, memoryview, str]
QualifierValue = Union[None, int, str]
# A qualifier by C name or code (Mapping is invariant in its key type: one
# alternative for each).
Qualifiers = Union[
    Mapping[str, QualifierValue],
    Mapping[int, QualifierValue],
    Iterable[Tuple[Union[str, int], QualifierValue]],
]
Items = Union[None, str, Iterable[str]]

class Connection:
    """One library connection to an RTR node: what one process has.

    * ``Connection()``: the process-wide connection (the one a C program in
      this process would use): to the node daemon named by
      ``$RTR_NODE_SOCKET`` when it is set, else the embedded node, started
      on first use, with its journal in ``$RTR_JOURNAL_DIR``
      (``./rtr-journal`` when unset, none when ``none``).
    * ``Connection.daemon(socket)``: a connection to the node daemon on that
      Unix socket (``rtr start``), like any other process on the machine.
    * ``Connection.embedded(journal_dir=None)``: a new, isolated embedded
      node (no journal unless ``journal_dir`` is given).
    * ``conn.connect()``: another connection to the same node, like a second
      process attached to it.

    The RTR calls (``open_channel``, ``send_to_server``, ...) take and return
    plain channel ids, as in C. Flags, and the arguments that follow them in
    C (``reason``, ``timeout_ms``, ...), are keyword-only:
    ``conn.reject_tx(ch, reason=3, flags=rtr.RejectFlag.RETRY)`` for C's
    ``rtr_reject_tx(ch, RTR_F_REJ_RETRY, 3)``; a call with them positional
    raises TypeError. The helpers (``open_client``, ``open_server``,
    ``messages``) return :class:`rtr.Channel` objects and iterators. Any
    thread may use a connection; a channel should be used by one thread at
    a time.

    ``with Connection.embedded() as conn:`` (or :meth:`close`) closes the
    channels opened through this object and detaches it. A connection does
    not cross ``os.fork()``: in a child, its calls raise
    :class:`rtr.NodeUnavailable`; open a new one there.
    """

    def __init__(self, _native: Optional[_rtr.Connection] = None) -> None:
        self._native = _native if _native is not None else _rtr.Connection.process()
        # Channels opened through this object, for close().
        self._channels: Set[int] = set()

    def close(self) -> None:
        """Close the channels opened through this object (``rtr_close_channel``:
        a client's active transaction is rejected, a server's presented to
        another server), then detach: every later call raises
        :class:`rtr.InvalidChannel` (``Status.CHANCLOSED``). A connection of
        its own (``embedded``, ``daemon``, ``connect``) is then gone, as at a
        process exit; the process-wide node itself stays up (C code in the
        process, and other ``Connection()`` objects, share it). Closing twice
        does nothing."""
        if self._native.closed:
            return
        for ch in sorted(self._channels):
            try:
                self._native.close_channel(ch)
            except InvalidChannel:
                pass  # closed meanwhile
        self._channels.clear()
        self._native.close()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._native.closed

    def __enter__(self) -> "Connection":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    @classmethod
    def embedded(cls, journal_dir: Union[str, "os.PathLike[str]", None] = None) -> "Connection":
        """A new embedded node of its own and a connection to it."""
        return cls(_rtr.Connection.embedded(None if journal_dir is None else os.fspath(journal_dir)))

    @classmethod
    def daemon(cls, socket: Union[str, "os.PathLike[str]"]) -> "Connection":
        """A connection to the node daemon on the Unix socket ``socket`` (what
        ``rtr start`` prints), as a separate process attached to it has.
        ``Connection()`` does the same when ``$RTR_NODE_SOCKET`` is set."""
        return cls(_rtr.Connection.daemon(os.fspath(socket)))

    def connect(self) -> "Connection":
        """Another connection to the same node (behaves like another process)."""
        return Connection(self._native.connect())

    # ------------------------------------------------------------ RTR calls

    def open_channel(
        self,
        flags: int,
        facility: Optional[str] = None,
        recipient: Optional[str] = None,
        events: Optional[Iterable[int]] = None,
        access: Optional[str] = None,
        keys: Keys = None,
        *,
        partition: Optional[str] = None,
    ) -> int:
        """``rtr_open_channel``: returns the channel id at once; the outcome
        arrives as ``MsgType.OPENED`` or ``MsgType.CLOSED``.

        ``flags``: :class:`rtr.OpenFlag` (exactly one of CLIENT and SERVER;
        positional, as it is first in C too). ``facility`` None is the
        default facility. ``events``: event numbers and list markers
        (:class:`rtr.EvtNum`). ``keys``: the server's key segments
        (:class:`rtr.KeySegment`). ``partition``: the partition's name (the
        C API's ``rtr_keyseg_partition`` segment).
        """
        ch = self._native.open_channel(
            int(flags),
            facility,
            recipient,
            None if events is None else list(events),
            access,
            _native_keys(keys),
            partition,
        )
        self._channels.add(ch)
        return ch

    @_c_order(1, "close_channel(channel, flags=...)")
    def close_channel(self, channel: ChannelLike, *, flags: int = 0) -> None:
        """``rtr_close_channel``: a client's active transaction is rejected, a
        server's is presented to another server; queued messages are dropped."""
        self._native.close_channel(channel, flags)
        self._channels.discard(int(channel))

    @_c_order(1, "start_tx(channel, timeout_ms=..., flags=...)")
    def start_tx(self, channel: ChannelLike, *, timeout_ms: Optional[int] = None, flags: int = 0) -> None:
        """``rtr_start_tx``: start a transaction explicitly; ``timeout_ms``
        (None or 0: none) rejects it with ``RTR_STS_TIMOUT`` when it expires."""
        self._native.start_tx(channel, flags, timeout_ms)

    @_c_order(2, "send_to_server(channel, data, flags=...)")
    def send_to_server(self, channel: ChannelLike, data: Data, *, flags: int = 0) -> None:
        """``rtr_send_to_server`` (starts a transaction when none is active).
        ``SendFlag.ACCEPT`` sends the last message and accepts in one call.
        ``data``: bytes-like, or a str, which is sent UTF-8 encoded."""
        self._native.send_to_server(channel, data, flags)

    def set_wakeup(self, callback: Optional[Callable[[], None]]) -> None:
        """``rtr_set_wakeup``: ``callback()`` is called, on a thread of the
        library's with the GIL held, when a message arrives while none was
        waiting (several arrivals may give one call); None removes it. Keep
        it short and do not receive in it: set an event, post to a loop
        (``loop.call_soon_threadsafe``), then receive elsewhere with a
        timeout of 0 until ``Timeout``. Exceptions it raises are printed."""
        self._native.set_wakeup(callback)

    def events_dropped(self) -> int:
        """Events this connection lost (events are not transactional; the C
        API's extension ``rtr_get_events_dropped``): broadcasts dropped
        because the receiving channel already held 4096 unreceived ones,
        and, on a node daemon, events it dropped while the connection was
        not reading and 8 MiB already waited for it."""
        return self._native.events_dropped()

    def wakeup_fd(self) -> int:
        """A file descriptor that is readable while a message waits for this
        connection (for ``select``/``selectors``/asyncio loops; the C API's
        ``rtr_get_wakeup_fd``). Owned by the library: only wait on it, then
        receive with a timeout of 0 until ``Timeout``. It can be readable
        when that receive returns nothing at all: a server channel opened
        without ``EXPLICIT_PREPARE`` is asked for its vote by a message the
        receive consumes itself (receiving is the implicit accept, so the
        receive is needed); the fd is unreadable again after it.
        :mod:`rtr.asyncio` does all this for asyncio."""
        return self._native.wakeup_fd()

    @_c_order(1, "prepare_tx(channel, reason=..., data=..., flags=...)")
    def prepare_tx(self, channel: ChannelLike, *, reason: int = 0, data: Data = b"", flags: int = 0) -> None:
        """``rtr_prepare_tx``: ask the servers to vote; ``MsgType.PREPARED``
        comes when all voted yes, then accept or reject (``reason`` stands)."""
        self._native.prepare_tx(channel, reason, data, flags)

    @_c_order(2, "broadcast_event(channel, data, evtnum=..., recipient=..., flags=...)")
    def broadcast_event(
        self,
        channel: ChannelLike,
        data: Data = b"",
        *,
        evtnum: int,
        recipient: Optional[str] = None,
        flags: int = 0,
    ) -> None:
        """``rtr_broadcast_event``: user event ``evtnum`` (0 to 250) with
        ``data`` to the other side of the facility, for channels subscribed
        to it whose recipient name matches ``recipient`` (``*`` and ``?``
        wildcards)."""
        if isinstance(data, int):
            raise TypeError(
                "broadcast_event(channel, data, evtnum=N): the event number is a keyword argument "
                f"(data comes first, as in C), not {data!r} in the place of data"
            )
        self._native.broadcast_event(channel, evtnum, data, recipient, flags)

    @_c_order(2, "reply_to_client(channel, data, flags=...)")
    def reply_to_client(self, channel: ChannelLike, data: Data, *, flags: int = 0) -> None:
        """``rtr_reply_to_client``; ``ReplyFlag.ACCEPT`` also votes to accept.
        ``data``: bytes-like, or a str, which is sent UTF-8 encoded."""
        self._native.reply_to_client(channel, data, flags)

    @_c_order(1, "accept_tx(channel, reason=..., flags=...)")
    def accept_tx(self, channel: ChannelLike, *, reason: int = 0, flags: int = 0) -> None:
        """``rtr_accept_tx``: a client asks to commit; a server votes yes.
        C's ``rtr_accept_tx(ch, flags, reason)`` is
        ``accept_tx(ch, reason=reason, flags=flags)``."""
        self._native.accept_tx(channel, flags, reason)

    @_c_order(1, "reject_tx(channel, reason=..., flags=...)")
    def reject_tx(self, channel: ChannelLike, *, reason: int = 0, flags: int = 0) -> None:
        """``rtr_reject_tx``: abort the transaction; ``reason`` reaches every
        participant. C's ``rtr_reject_tx(ch, RTR_F_REJ_RETRY, 3)`` is
        ``reject_tx(ch, reason=3, flags=RejectFlag.RETRY)``."""
        self._native.reject_tx(channel, flags, reason)

    def receive_message(self, channels: Channels = None, timeout: Optional[float] = None) -> Message:
        """``rtr_receive_message``: the next message on ``channels`` (None: any
        channel of this connection; a channel; or several), waiting at most
        ``timeout`` seconds (None or ``math.inf``: for ever; 0: poll).

        Raises :class:`rtr.Timeout` when nothing arrived in time. The GIL is
        released while waiting, and Ctrl-C interrupts the wait.
        """
        return Message._from_native(self._native.receive(_channel_arg(channels), timeout))  # type: ignore[arg-type]

    @_c_order(1, "get_tid(channel, flags=...)")
    def get_tid(self, channel: ChannelLike, *, flags: int = 0) -> Tid:
        """``rtr_get_tid``: the id of the transaction active on the channel."""
        return self._native.get_tid(channel, flags)

    def get_fence(self, channel: ChannelLike) -> int:
        """``rtr_get_fence`` (an extension): the fencing token of the last
        transaction message this server channel received, 0 before any.

        It is the grant epoch under which the node held the key range when
        it delivered the message, and only grows for a key range. A database
        that keeps the highest token it committed under per key range, and
        refuses a commit under a lower one, cannot apply a transaction twice
        when a frozen node wakes after the range's new holder replayed it
        (see docs/fencing.md). Raises on a client channel.
        """
        return self._native.get_fence(channel)

    def set_user_handle(self, channel: ChannelLike, handle: int) -> None:
        """``rtr_set_user_handle``: later messages on the channel carry ``handle`` in ``usrhdl``."""
        self._native.set_user_handle(channel, handle)

    def get_user_handle(self, channel: ChannelLike) -> int:
        """The channel's user handle."""
        return self._native.get_user_handle(channel)

    @_c_order(4, "request_info(infcla, selitm, selval, getitms, flags=...)")
    def request_info(
        self,
        infcla: str,
        selitm: Optional[str] = None,
        selval: Optional[str] = None,
        getitms: Items = None,
        *,
        flags: int = 0,
    ) -> int:
        """``rtr_request_info``: returns a new information channel on which
        one ``MsgType.REQUEST_INFO`` message per object of class ``infcla``
        (``"fac"``, ``"prt"``, ``"srv"``, ``"ftx"``, ``"rtx"``, ``"btx"``,
        ``"lnk"``) whose item ``selitm`` equals ``selval`` is queued, then
        ``MsgType.CLOSED``. Each message's data is ``item=value`` lines
        joined by ``\n``, ended by a NUL (see :func:`parse_info_record`).
        ``selitm`` None or ``"*"``: every object; ``getitms`` (a
        comma-separated str or a list of names) None or ``"*"``: every item.
        The items of each class are listed in ``include/rtr.h``
        (``RTR_INFCLA_*``). :meth:`query_info` does the whole exchange."""
        items = getitms if getitms is None or isinstance(getitms, str) else ",".join(getitms)
        ch = self._native.request_info(infcla, selitm, selval, items, flags)
        self._channels.add(ch)
        return ch

    @_c_order(4, "set_info(verb, object, select, set, flags=...)")
    def set_info(
        self,
        verb: Union[str, int],
        object: Union[str, int],
        select: Qualifiers,
        set: Qualifiers,
        *,
        flags: int = 0,
    ) -> int:
        """``rtr_set_info``: change a partition. ``verb`` is ``"verb_set"``
        and ``object`` ``"rtr_partition_object"`` (or their codes);
        ``select`` names the partition (``{"rtr_facility_name": "FAC",
        "rtr_partition_name": "3"}``), ``set`` says what to change
        (``{"rtr_partition_state_suspend": None}``); qualifiers by C name or
        code, values None, int or str. Returns a new information channel on
        which one ``MsgType.CLOSED`` gives the result in its status.
        :meth:`set_partition` does the whole exchange."""
        ch = self._native.set_info(verb, object, select, set, flags)
        self._channels.add(ch)
        return ch

    def query_info(
        self,
        infcla: str,
        selitm: Optional[str] = None,
        selval: Optional[str] = None,
        getitms: Items = None,
        timeout: Optional[float] = 30.0,
    ) -> List[Dict[str, str]]:
        """:meth:`request_info`, then receive every record (as a dict of
        item to value) up to ``MsgType.CLOSED`` and close the channel.
        Raises the :class:`rtr.RtrError` of the closing status unless it is
        OK, and :class:`rtr.Timeout` if the answer does not come in time."""
        ch = self.request_info(infcla, selitm, selval, getitms)
        try:
            records: List[Dict[str, str]] = []
            while True:
                m = self.receive_message(ch, timeout)
                if m.msgtype == MsgType.CLOSED:
                    if m.status != Status.OK:
                        raise _closed_error(m, f"rtr_request_info {infcla!r}")
                    return records
                records.append(parse_info_record(m.data))
        finally:
            self.close_channel(ch)

    def set_partition(
        self, facility: str, partition: Union[int, str], changes: Qualifiers, timeout: Optional[float] = 30.0
    ) -> None:
        """:meth:`set_info` on partition ``partition`` (its id, as
        :meth:`query_info` gives ``prt_id``) of ``facility``: wait for the
        result and close the channel. Raises the :class:`rtr.RtrError` of
        the result unless it is OK (``Status.INVOBJCT``: no such partition)."""
        select = {"rtr_facility_name": facility, "rtr_partition_name": str(partition)}
        ch = self.set_info("verb_set", "rtr_partition_object", select, changes)
        try:
            m = self.receive_message(ch, timeout)
            if m.status != Status.OK:
                raise _closed_error(m, f"rtr_set_info {facility}:{partition}")
        finally:
            self.close_channel(ch)

    # -------------------------------------------------------------- helpers

    def open_client(
        self,
        facility: Optional[str] = None,
        *,
        recipient: Optional[str] = None,
        events: Optional[Iterable[int]] = None,
        access: Optional[str] = None,
        wait: Optional[float] = 30.0,
    ) -> "Channel":
        """Open a client channel and (unless ``wait`` is None) wait up to
        ``wait`` seconds for it to open. Use it as a context manager to close it."""
        ch = self.open_channel(OpenFlag.CLIENT, facility, recipient, events, access)
        return Channel._opened(self, ch, OpenFlag.CLIENT, wait)

    def open_server(
        self,
        facility: Optional[str] = None,
        keys: Keys = None,
        *,
        flags: int = 0,
        recipient: Optional[str] = None,
        events: Optional[Iterable[int]] = None,
        access: Optional[str] = None,
        wait: Optional[float] = 30.0,
        partition: Optional[str] = None,
    ) -> "Channel":
        """Open a server channel for the key range ``keys`` (``flags``: extra
        :class:`rtr.OpenFlag` such as EXPLICIT_PREPARE; ``partition``: the
        partition's name) and (unless ``wait`` is None) wait up to ``wait``
        seconds for it to open."""
        fl = OpenFlag.SERVER | int(flags)
        ch = self.open_channel(fl, facility, recipient, events, access, keys, partition=partition)
        return Channel._opened(self, ch, fl, wait)

    def messages(self, channels: Channels = None, timeout: Optional[float] = None) -> Iterator[Message]:
        """Iterate over received messages; stop when none arrives within
        ``timeout`` seconds (None: never stop)."""
        ch = _channel_arg(channels)
        while True:
            try:
                raw = self._native.receive(ch, timeout)  # type: ignore[arg-type]
            except Timeout:
                return
            yield Message._from_native(raw)

    def __repr__(self) -> str:
        state = " closed" if self.closed else ""
        return f"<rtr.Connection{state} at {id(self):#x}>"


def _channel_arg(channels: Channels) -> object:
    """Channels for the native receive, which takes None, a channel, or an
    iterable of channels (and raises TypeError for anything else). An
    iterator is turned into a list so that it can be used again."""
    if channels is None or isinstance(channels, (int, str, bytes)) or hasattr(type(channels), "__index__"):
        return channels
    try:
        return list(channels)  # type: ignore[arg-type]
    except TypeError:
        return channels


# ------------------------------------------------- the process-wide connection

_process_lock = threading.Lock()
_process: Optional[Connection] = None


def process_connection() -> Connection:
    """The connection the module functions use: a :class:`Connection` to the
    process-wide node, made on first use, and made again after someone
    closed it."""
    global _process
    with _process_lock:
        if _process is None or _process.closed:
            _process = Connection()
        return _process


# Each function below is the Connection method of the same name on the
# process-wide connection, with the same signature (a test checks that).


def open_channel(
    flags: int,
    facility: Optional[str] = None,
    recipient: Optional[str] = None,
    events: Optional[Iterable[int]] = None,
    access: Optional[str] = None,
    keys: Keys = None,
    *,
    partition: Optional[str] = None,
) -> int:
    """``rtr_open_channel`` on the process-wide connection."""
    return process_connection().open_channel(flags, facility, recipient, events, access, keys, partition=partition)


@_c_order(1, "close_channel(channel, flags=...)", method=False)
def close_channel(channel: ChannelLike, *, flags: int = 0) -> None:
    """``rtr_close_channel`` on the process-wide connection."""
    process_connection().close_channel(channel, flags=flags)


@_c_order(1, "start_tx(channel, timeout_ms=..., flags=...)", method=False)
def start_tx(channel: ChannelLike, *, timeout_ms: Optional[int] = None, flags: int = 0) -> None:
    """``rtr_start_tx`` on the process-wide connection."""
    process_connection().start_tx(channel, timeout_ms=timeout_ms, flags=flags)


@_c_order(2, "send_to_server(channel, data, flags=...)", method=False)
def send_to_server(channel: ChannelLike, data: Data, *, flags: int = 0) -> None:
    """``rtr_send_to_server`` on the process-wide connection."""
    process_connection().send_to_server(channel, data, flags=flags)


@_c_order(2, "reply_to_client(channel, data, flags=...)", method=False)
def reply_to_client(channel: ChannelLike, data: Data, *, flags: int = 0) -> None:
    """``rtr_reply_to_client`` on the process-wide connection."""
    process_connection().reply_to_client(channel, data, flags=flags)


@_c_order(1, "accept_tx(channel, reason=..., flags=...)", method=False)
def accept_tx(channel: ChannelLike, *, reason: int = 0, flags: int = 0) -> None:
    """``rtr_accept_tx`` on the process-wide connection."""
    process_connection().accept_tx(channel, reason=reason, flags=flags)


@_c_order(1, "reject_tx(channel, reason=..., flags=...)", method=False)
def reject_tx(channel: ChannelLike, *, reason: int = 0, flags: int = 0) -> None:
    """``rtr_reject_tx`` on the process-wide connection."""
    process_connection().reject_tx(channel, reason=reason, flags=flags)


@_c_order(1, "prepare_tx(channel, reason=..., data=..., flags=...)", method=False)
def prepare_tx(channel: ChannelLike, *, reason: int = 0, data: Data = b"", flags: int = 0) -> None:
    """``rtr_prepare_tx`` on the process-wide connection."""
    process_connection().prepare_tx(channel, reason=reason, data=data, flags=flags)


@_c_order(2, "broadcast_event(channel, data, evtnum=..., recipient=..., flags=...)", method=False)
def broadcast_event(
    channel: ChannelLike,
    data: Data = b"",
    *,
    evtnum: int,
    recipient: Optional[str] = None,
    flags: int = 0,
) -> None:
    """``rtr_broadcast_event`` on the process-wide connection."""
    process_connection().broadcast_event(channel, data, evtnum=evtnum, recipient=recipient, flags=flags)


def receive_message(channels: Channels = None, timeout: Optional[float] = None) -> Message:
    """``rtr_receive_message`` on the process-wide connection."""
    return process_connection().receive_message(channels, timeout)


@_c_order(1, "get_tid(channel, flags=...)", method=False)
def get_tid(channel: ChannelLike, *, flags: int = 0) -> Tid:
    """``rtr_get_tid`` on the process-wide connection."""
    return process_connection().get_tid(channel, flags=flags)


def get_fence(channel: ChannelLike) -> int:
    """``rtr_get_fence`` on the process-wide connection."""
    return process_connection().get_fence(channel)


def set_user_handle(channel: ChannelLike, handle: int) -> None:
    """``rtr_set_user_handle`` on the process-wide connection."""
    process_connection().set_user_handle(channel, handle)


def get_user_handle(channel: ChannelLike) -> int:
    """The user handle of a channel of the process-wide connection."""
    return process_connection().get_user_handle(channel)


def set_wakeup(callback: Optional[Callable[[], None]]) -> None:
    """``rtr_set_wakeup`` on the process-wide connection."""
    process_connection().set_wakeup(callback)


def wakeup_fd() -> int:
    """The wakeup descriptor of the process-wide connection (see :meth:`Connection.wakeup_fd`)."""
    return process_connection().wakeup_fd()


def events_dropped() -> int:
    """Events the process-wide connection lost (see :meth:`Connection.events_dropped`)."""
    return process_connection().events_dropped()


@_c_order(4, "request_info(infcla, selitm, selval, getitms, flags=...)", method=False)
def request_info(
    infcla: str,
    selitm: Optional[str] = None,
    selval: Optional[str] = None,
    getitms: Items = None,
    *,
    flags: int = 0,
) -> int:
    """``rtr_request_info`` on the process-wide connection."""
    return process_connection().request_info(infcla, selitm, selval, getitms, flags=flags)


@_c_order(4, "set_info(verb, object, select, set, flags=...)", method=False)
def set_info(
    verb: Union[str, int],
    object: Union[str, int],
    select: Qualifiers,
    set: Qualifiers,
    *,
    flags: int = 0,
) -> int:
    """``rtr_set_info`` on the process-wide connection."""
    return process_connection().set_info(verb, object, select, set, flags=flags)


def query_info(
    infcla: str,
    selitm: Optional[str] = None,
    selval: Optional[str] = None,
    getitms: Items = None,
    timeout: Optional[float] = 30.0,
) -> List[Dict[str, str]]:
    """:meth:`Connection.query_info` on the process-wide connection."""
    return process_connection().query_info(infcla, selitm, selval, getitms, timeout)


def set_partition(
    facility: str, partition: Union[int, str], changes: Qualifiers, timeout: Optional[float] = 30.0
) -> None:
    """:meth:`Connection.set_partition` on the process-wide connection."""
    process_connection().set_partition(facility, partition, changes, timeout)


def parse_info_record(data: bytes) -> Dict[str, str]:
    """The items of one ``MsgType.REQUEST_INFO`` record: its ``item=value``
    lines (joined by ``\n``, ended by a NUL) as a dict."""
    text = data[:-1] if data.endswith(b"\0") else data
    record: Dict[str, str] = {}
    for line in text.decode().split("\n"):
        name, _, value = line.partition("=")
        record[name] = value
    return record


def error_text(status: int) -> str:
    """``rtr_error_text``: the text of any status value."""
    return _rtr.error_text(status)


def _closed_error(msg: Message, what: str) -> Exception:
    status = int(msg.status) if msg.status is not None else 0
    return from_status(status, f"{what}: {_rtr.error_text(status)}")


# At the end: _channel imports this module (a cycle), and the annotations
# above name Channel, which typing.get_type_hints looks up here at run time.
from ._channel import Channel  # noqa: E402
