"""Reliable Transaction Router for Python.

The RTR C API, faithfully, plus a few Pythonic helpers::

    import rtr

    conn = rtr.Connection()                       # the process-wide node
    with conn.open_server("BANK", rtr.KeySegment(rtr.KeyType.UNSIGNED, 4, 0, 0, 999)) as srv:
        ...                                       # rtr.serve(srv, handler) on a thread
    with conn.open_client("BANK") as ch:
        with ch.transaction(timeout_ms=5000) as tx:
            tx.send(request)
            reply = tx.receive()
        # committed here; rtr.Rejected was raised if RTR rejected it

Faithful calls (on a :class:`Connection`, or as module functions of the
same signatures on the process-wide one): ``open_channel``,
``close_channel``, ``start_tx``, ``send_to_server``, ``reply_to_client``,
``accept_tx``, ``reject_tx``, ``prepare_tx``, ``broadcast_event``,
``receive_message``, ``get_tid``, ``get_fence`` (an extension),
``set_user_handle``, ``get_user_handle``,
``request_info``, ``set_info``, ``set_wakeup``, ``wakeup_fd``,
``error_text``. Flags, and the arguments that follow them in C
(``reason``, ``timeout_ms``, ...), are keyword-only:
``rtr_reject_tx(ch, RTR_F_REJ_RETRY, 3)`` is
``rtr.reject_tx(ch, reason=3, flags=rtr.RejectFlag.RETRY)``, and a call
with them positional raises TypeError. Flags, message types, event numbers
and statuses are enums (:class:`OpenFlag`, :class:`MsgType`,
:class:`EvtNum`, :class:`Status`, ...); every failure is an
:class:`RtrError` carrying the RTR :class:`Status`. Message data given as
``str`` is sent UTF-8 encoded; received data is always ``bytes``.

asyncio: ``import rtr.asyncio`` (awaitable receive, transactions and
``serve`` on the loop, over the wakeup descriptor).

Helpers: :meth:`Connection.open_client` / :meth:`Connection.open_server`
return :class:`Channel` context managers; :meth:`Channel.transaction` is a
transaction context manager; :meth:`Connection.messages` iterates over
received messages; :func:`serve` is a small server loop;
:meth:`Connection.query_info` and :meth:`Connection.set_partition` run a
whole ``request_info``/``set_info`` exchange.

C code in the same process: :func:`load_c_library` loads a shared object
that calls the RTR C API (``include/rtr.h``) so that it shares the
process-wide node with Python.

Diagnostics: the library's messages (a journal it cannot open, a link
down) go to the ``logging`` module's ``"rtr"`` logger; :func:`set_log_handler`
sends them elsewhere (``None``: standard error, as the C library does).

The process-wide node keeps its journal in ``$RTR_JOURNAL_DIR``
(``./rtr-journal`` when unset; ``none`` runs without one). Set it before the
first call.
"""

from __future__ import annotations

from . import _rtr
from ._c_api import c_api_path, expose_c_api, load_c_library
from ._channel import Channel
from ._connection import (
    Connection,
    accept_tx,
    broadcast_event,
    close_channel,
    error_text,
    events_dropped,
    get_fence,
    get_tid,
    get_user_handle,
    open_channel,
    parse_info_record,
    prepare_tx,
    process_connection,
    query_info,
    receive_message,
    reject_tx,
    reply_to_client,
    request_info,
    send_to_server,
    set_info,
    set_partition,
    set_user_handle,
    set_wakeup,
    start_tx,
    wakeup_fd,
)
from ._enums import (
    AcceptFlag,
    CloseFlag,
    EvtNum,
    KeyType,
    MsgType,
    OpenFlag,
    RejectFlag,
    ReplyFlag,
    SendFlag,
    Status,
    TidFlag,
)
from ._errors import (
    InternalError,
    InvalidArgument,
    InvalidChannel,
    LimitExceeded,
    NodeUnavailable,
    OpenRefused,
    Rejected,
    RtrError,
    Timeout,
    Unsupported,
    WrongState,
)
from ._keys import KeySegment
from ._log import LogHandler, log_to_logging, set_log_handler
from ._message import Message
from ._rtr import Tid
from ._serve import ServeStats, serve
from ._transaction import Transaction

#: Largest message in bytes (RTR_MAX_MSGLEN).
MAX_MSGLEN: int = _rtr.MAX_MSGLEN
#: Channels one connection may have open.
MAX_CHANNELS: int = _rtr.MAX_CHANNELS
#: Most key segments of one server channel (RTR_MAX_NUMSEG).
MAX_NUMSEG: int = _rtr.MAX_NUMSEG
#: The facility used when none is named.
DEFAULT_FACILITY: str = _rtr.DEFAULT_FACILITY

__version__ = "0.1.0"

__all__ = [
    "AcceptFlag",
    "Channel",
    "CloseFlag",
    "Connection",
    "EvtNum",
    "DEFAULT_FACILITY",
    "InternalError",
    "InvalidArgument",
    "InvalidChannel",
    "KeySegment",
    "KeyType",
    "LimitExceeded",
    "MAX_CHANNELS",
    "MAX_MSGLEN",
    "MAX_NUMSEG",
    "Message",
    "MsgType",
    "NodeUnavailable",
    "OpenFlag",
    "OpenRefused",
    "RejectFlag",
    "Rejected",
    "ReplyFlag",
    "RtrError",
    "SendFlag",
    "ServeStats",
    "Status",
    "Tid",
    "TidFlag",
    "Timeout",
    "Transaction",
    "Unsupported",
    "WrongState",
    "accept_tx",
    "broadcast_event",
    "events_dropped",
    "prepare_tx",
    "query_info",
    "set_partition",
    "set_wakeup",
    "wakeup_fd",
    "c_api_path",
    "expose_c_api",
    "load_c_library",
    "LogHandler",
    "log_to_logging",
    "set_log_handler",
    "close_channel",
    "error_text",
    "get_fence",
    "get_tid",
    "get_user_handle",
    "open_channel",
    "parse_info_record",
    "process_connection",
    "receive_message",
    "reject_tx",
    "reply_to_client",
    "request_info",
    "send_to_server",
    "serve",
    "set_info",
    "set_user_handle",
    "start_tx",
]
