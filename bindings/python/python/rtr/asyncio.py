"""RTR for asyncio: awaitable receives, transactions and a server loop.

::

    import rtr, rtr.asyncio

    async def main() -> None:
        async with rtr.asyncio.AsyncConnection(rtr.Connection.embedded()) as conn:
            srv = await conn.open_server("BANK", keys)
            server = asyncio.create_task(rtr.asyncio.serve(srv, handler))
            cli = await conn.open_client("BANK")
            async with cli.transaction(timeout_ms=5000) as tx:
                tx.send(request)
                reply = await tx.receive(timeout=5)
            # committed here (rtr.Rejected if RTR rejected it)
            server.cancel()

No thread and no runtime inside the library: an :class:`AsyncConnection`
watches a descriptor of the connection with ``loop.add_reader``, as
``zmq.asyncio`` does with ZeroMQ's. When it turns readable, each task
awaiting a receive gets its turn at a receive with a timeout of 0 on its own
channels, in the order the tasks started waiting, so RTR's rules hold as in
a blocking program: a task awaiting a receive on a server channel is, to
RTR, a server in ``rtr_receive_message`` (receiving again is its implicit
accept), and no task ever receives another's messages.

The descriptor is the connection's *arrival* descriptor, the edge-like
sibling of :meth:`rtr.Connection.wakeup_fd`: every delivery makes it
readable and the loop's reading makes it unreadable again. (The wakeup
descriptor stays readable while any message waits, for this loop or not:
messages waiting for a channel no task receives from just now, or for a
thread or C code sharing the connection, would make a loop on it spin.)
So one :class:`AsyncConnection` per connection.

Calls that never wait (send, reply, accept, reject, close, ...) are the
plain ones of :class:`rtr.Channel`. Cancelling a task that awaits a receive
loses no message: a message already taken for it goes to the next receive
on its channel.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import operator
import os
import time
import weakref
from types import TracebackType
from typing import (
    Any,
    AsyncIterator,
    Awaitable,
    Callable,
    Deque,
    Dict,
    Iterable,
    List,
    Optional,
    Sequence,
    Type,
    Union,
)

from ._channel import Channel
from ._connection import Connection, Data, Keys, _channel_arg, _closed_error
from ._enums import MsgType, OpenFlag, Status
from ._errors import InvalidArgument, InvalidChannel, RtrError, Timeout, WrongState
from ._keywords import _c_order
from ._message import Message
from ._rtr import Tid
from ._serve import ServeStats
from ._transaction import EXIT_WAIT, _check_not_closed, _rejected

__all__ = [
    "AsyncConnection",
    "AsyncChannel",
    "AsyncTransaction",
    "serve",
    "AsyncHandler",
    "AsyncChannels",
    "ChannelLike",
]

#: What :func:`serve`'s handler may return: reply data (or None), or an
#: awaitable of it (``async def`` handlers).
AsyncHandler = Callable[[Message], Union[Data, None, Awaitable[Union[Data, None]]]]


# The AsyncConnection of each Connection (one each: see the module documentation).
_OWNERS: "weakref.WeakKeyDictionary[Connection, weakref.ReferenceType[AsyncConnection]]" = weakref.WeakKeyDictionary()


class _Waiter:
    __slots__ = ("channels", "future")

    def __init__(self, channels: Optional[List[int]], future: "asyncio.Future[Message]") -> None:
        self.channels = channels
        self.future = future


#: A channel: its id, a :class:`rtr.Channel` or an :class:`AsyncChannel`.
ChannelLike = Union[int, Channel, "AsyncChannel"]
#: What a receive listens to: None (every channel), a channel, or several.
AsyncChannels = Union[None, ChannelLike, Iterable[ChannelLike]]


def _channel_list(channels: AsyncChannels) -> Optional[List[int]]:
    arg = _channel_arg(channels)  # type: ignore[arg-type]
    if arg is None:
        return None
    # operator.index: ints and what stands for one (channels), never a str
    # or a float (TypeError, as the blocking receive raises).
    if isinstance(arg, list):
        return [operator.index(c) for c in arg]
    return [operator.index(arg)]  # type: ignore[arg-type]


class AsyncConnection:
    """A :class:`rtr.Connection` on an asyncio loop (see the module's
    documentation). ``connection`` None is the process-wide connection.
    ``async with`` (or :meth:`close`) closes the connection at the end.

    Use it from one event loop at a time; the blocking connection stays
    usable by other threads (``self.connection``)."""

    def __init__(self, connection: Optional[Connection] = None) -> None:
        self.connection = connection if connection is not None else Connection()
        owner = _OWNERS.get(self.connection)
        if owner is not None and owner() is not None:
            raise RuntimeError(
                f"{self.connection!r} already has an AsyncConnection (one per connection: they "
                "would share its arrival descriptor); use that one, or conn.connect() for another"
            )
        _OWNERS[self.connection] = weakref.ref(self)
        self._fd = self.connection._native.arrival_fd()
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._waiters: List[_Waiter] = []
        # Messages taken for a receive whose task was cancelled before it
        # could return them: the next matching receive returns them first.
        self._stash: Deque[Message] = collections.deque()
        self._watching = False

    # ------------------------------------------------------------ receive

    async def receive_message(self, channels: AsyncChannels = None, timeout: Optional[float] = None) -> Message:
        """``rtr_receive_message`` without blocking the loop: the next
        message on ``channels`` (None: any channel of the connection),
        waiting at most ``timeout`` seconds (None: for ever). Raises
        :class:`rtr.Timeout` when nothing came in time, and the RTR error
        of the receive otherwise (:class:`rtr.InvalidChannel` once every
        listed channel is closed)."""
        chans = _channel_list(channels)
        if timeout is not None and not timeout >= 0:  # negative, or NaN
            raise InvalidArgument(f"timeout {timeout} is not a number of seconds >= 0", Status.INVTIMOUTMS)
        for stashed in self._stash:
            if chans is None or stashed.channel in chans:
                self._stash.remove(stashed)
                return stashed
        now = self._try(chans)
        if now is not None:
            return now
        loop = asyncio.get_running_loop()
        self._bind(loop)
        waiter = _Waiter(chans, loop.create_future())
        self._waiters.append(waiter)
        self._watch()
        expiry = None
        if timeout is not None and timeout != float("inf"):
            expiry = loop.call_later(timeout, self._expire, waiter)
        try:
            return await waiter.future
        except asyncio.CancelledError:
            fut = waiter.future
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                self._stash.appendleft(fut.result())
            raise
        finally:
            if expiry is not None:
                expiry.cancel()
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def messages(self, channels: AsyncChannels = None, timeout: Optional[float] = None) -> AsyncIterator[Message]:
        """``async for msg in conn.messages(...)``: received messages until
        none arrives within ``timeout`` seconds (None: never stop)."""
        return self._messages(channels, timeout)

    async def _messages(self, channels: AsyncChannels, timeout: Optional[float]) -> AsyncIterator[Message]:
        while True:
            try:
                msg = await self.receive_message(channels, timeout)
            except Timeout:
                return
            yield msg

    def _try(self, channels: Optional[List[int]]) -> Optional[Message]:
        """A receive that does not wait (None when nothing waits: no
        Timeout exception is made for the many tries that find nothing)."""
        raw = self.connection._native.try_receive(channels)
        return None if raw is None else Message._from_native(raw)

    def _expire(self, waiter: _Waiter) -> None:
        if not waiter.future.done():
            waiter.future.set_exception(Timeout("no message arrived before the receive timeout"))

    def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._loop is loop:
            return
        if self._waiters:
            raise RuntimeError("this rtr.asyncio.AsyncConnection is in use by another event loop")
        self._unwatch()
        self._loop = loop

    def _watch(self) -> None:
        """Watch the arrival descriptor (it stays readable from a delivery
        until read, so nothing delivered before is missed)."""
        if not self._watching and self._loop is not None:
            self._loop.add_reader(self._fd, self._on_readable)
            self._watching = True

    def _unwatch(self) -> None:
        if self._watching and self._loop is not None:
            self._loop.remove_reader(self._fd)
        self._watching = False

    def _on_readable(self) -> None:
        """Something was delivered: give every waiting task its turn at a
        receive that does not wait. The descriptor is read first, so a
        delivery during the turns makes it readable again."""
        try:
            os.read(self._fd, 8)
        except BlockingIOError:
            pass  # read already (a turn run by hand, or a spurious wakeup)
        for waiter in list(self._waiters):
            if waiter.future.done():
                # Timed out or cancelled: it takes no message.
                self._waiters.remove(waiter)
                continue
            try:
                msg = self._try(waiter.channels)
            except RtrError as e:
                self._waiters.remove(waiter)
                waiter.future.set_exception(e)
                continue
            if msg is None:
                continue
            self._waiters.remove(waiter)
            waiter.future.set_result(msg)
        if not self._waiters:
            self._unwatch()

    # ------------------------------------------------------------ channels

    async def open_client(
        self,
        facility: Optional[str] = None,
        *,
        recipient: Optional[str] = None,
        events: Optional[Iterable[int]] = None,
        access: Optional[str] = None,
        wait: Optional[float] = 30.0,
    ) -> "AsyncChannel":
        """Open a client channel and (unless ``wait`` is None) await, at
        most ``wait`` seconds, that it opened."""
        ch = self.connection.open_client(facility, recipient=recipient, events=events, access=access, wait=None)
        return await self._opened(ch, wait)

    async def open_server(
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
    ) -> "AsyncChannel":
        """Open a server channel (as :meth:`rtr.Connection.open_server`) and
        (unless ``wait`` is None) await that it opened."""
        ch = self.connection.open_server(
            facility,
            keys,
            flags=flags,
            recipient=recipient,
            events=events,
            access=access,
            wait=None,
            partition=partition,
        )
        return await self._opened(ch, wait)

    async def _opened(self, ch: Channel, wait: Optional[float]) -> "AsyncChannel":
        if wait is not None:
            try:
                msg = await self.receive_message(ch.id, wait)
                if msg.msgtype == MsgType.CLOSED:
                    raise _closed_error(msg, f"channel {ch.id} could not be opened")
                if msg.msgtype != MsgType.OPENED:
                    raise InvalidChannel(f"channel {ch.id}: expected rtr_mt_opened, got {msg!r}")
            except BaseException:
                ch._close_quietly()
                raise
        return AsyncChannel(self, ch)

    # ------------------------------------------------------------ the end

    def close(self) -> None:
        """Stop watching the descriptor, fail the receives still awaited
        (:class:`rtr.InvalidChannel`), and close the connection
        (:meth:`rtr.Connection.close`)."""
        self._unwatch()
        for waiter in self._waiters:
            if not waiter.future.done():
                waiter.future.set_exception(InvalidChannel("the connection was closed"))
        self._waiters.clear()
        _OWNERS.pop(self.connection, None)
        self.connection.close()

    async def __aenter__(self) -> "AsyncConnection":
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<rtr.asyncio.AsyncConnection of {self.connection!r}>"


class AsyncChannel:
    """A :class:`rtr.Channel` whose receives are awaited. The calls that
    never wait are the channel's own; ``async with`` (or ``with``) closes it.
    It stands for its channel id (``int(ch)``)."""

    __slots__ = ("connection", "channel")

    def __init__(self, connection: AsyncConnection, channel: Channel) -> None:
        self.connection = connection
        #: The blocking :class:`rtr.Channel`.
        self.channel = channel

    @property
    def id(self) -> int:
        return self.channel.id

    def __index__(self) -> int:
        return self.channel.id

    def __int__(self) -> int:
        return self.channel.id

    @property
    def tid(self) -> Tid:
        """``rtr_get_tid``: the active transaction's id."""
        return self.channel.tid

    async def receive(self, timeout: Optional[float] = None) -> Message:
        """The next message on this channel (raises :class:`rtr.Timeout`)."""
        return await self.connection.receive_message(self.channel.id, timeout)

    def messages(self, timeout: Optional[float] = None) -> AsyncIterator[Message]:
        """``async for``: messages on this channel until none arrives within ``timeout`` seconds."""
        return self.connection.messages(self.channel.id, timeout)

    @_c_order(1, "send(data, accept=..., flags=...)")
    def send(self, data: Data, *, accept: bool = False, flags: int = 0) -> None:
        """``rtr_send_to_server``; ``accept=True`` adds ``SendFlag.ACCEPT``."""
        self.channel.send(data, accept=accept, flags=flags)

    @_c_order(1, "reply(data, accept=..., flags=...)")
    def reply(self, data: Data, *, accept: bool = False, flags: int = 0) -> None:
        """``rtr_reply_to_client``; ``accept=True`` adds ``ReplyFlag.ACCEPT``."""
        self.channel.reply(data, accept=accept, flags=flags)

    @_c_order(1, "accept(reason, flags=...)")
    def accept(self, reason: int = 0, *, flags: int = 0) -> None:
        """``rtr_accept_tx``."""
        self.channel.accept(reason, flags=flags)

    @_c_order(1, "reject(reason, flags=...)")
    def reject(self, reason: int = 0, *, flags: int = 0) -> None:
        """``rtr_reject_tx``."""
        self.channel.reject(reason, flags=flags)

    @_c_order(1, "start_tx(timeout_ms, flags=...)")
    def start_tx(self, timeout_ms: Optional[int] = None, *, flags: int = 0) -> None:
        """``rtr_start_tx`` (``timeout_ms`` None or 0: no transaction timeout)."""
        self.channel.start_tx(timeout_ms, flags=flags)

    @_c_order(0, "prepare(reason=..., data=..., flags=...)")
    def prepare(self, *, reason: int = 0, data: Data = b"", flags: int = 0) -> None:
        """``rtr_prepare_tx`` (``MsgType.PREPARED`` follows, to receive)."""
        self.channel.prepare(reason=reason, data=data, flags=flags)

    @property
    def user_handle(self) -> int:
        return self.channel.user_handle

    @user_handle.setter
    def user_handle(self, handle: int) -> None:
        self.channel.user_handle = handle

    @_c_order(1, "broadcast_event(data, evtnum=..., recipient=..., flags=...)")
    def broadcast_event(
        self, data: Data = b"", *, evtnum: int, recipient: Optional[str] = None, flags: int = 0
    ) -> None:
        """``rtr_broadcast_event`` from this channel."""
        self.channel.broadcast_event(data, evtnum=evtnum, recipient=recipient, flags=flags)

    @_c_order(0, "close(flags=...)")
    def close(self, *, flags: int = 0) -> None:
        """``rtr_close_channel`` (closing twice does nothing)."""
        self.channel.close(flags=flags)

    def transaction(
        self, timeout_ms: Optional[int] = None, *, outcome_timeout: Optional[float] = None
    ) -> "AsyncTransaction":
        """A client transaction for ``async with`` (see :class:`AsyncTransaction`)."""
        return AsyncTransaction(self, timeout_ms, outcome_timeout)

    def __enter__(self) -> "AsyncChannel":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.channel._close_quietly()

    async def __aenter__(self) -> "AsyncChannel":
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.channel._close_quietly()

    def __repr__(self) -> str:
        return repr(self.channel).replace("<rtr.Channel", "<rtr.asyncio.AsyncChannel", 1)


class AsyncTransaction:
    """:class:`rtr.Transaction` for ``async with``::

        async with ch.transaction(timeout_ms=5000) as tx:
            tx.send(request)
            reply = await tx.receive(timeout=5)
        # committed here; rtr.Rejected if RTR rejected it

    Leaving normally accepts and awaits the outcome; leaving on an exception
    (a cancellation too) rejects and awaits the outcome for at most
    ``outcome_timeout`` (else ``EXIT_WAIT``) seconds, then lets the exception
    through."""

    def __init__(self, channel: AsyncChannel, timeout_ms: Optional[int], outcome_timeout: Optional[float]) -> None:
        self.channel = channel
        self.timeout_ms = timeout_ms
        self.outcome_timeout = outcome_timeout
        self.outcome: Optional[Message] = None
        #: Replies that arrived while waiting for the outcome.
        self.late_replies: List[Message] = []
        self._voted = False
        self._rejected_by_us = False
        self._tid: Optional[Tid] = None

    @property
    def tid(self) -> Tid:
        if self._tid is None:
            raise WrongState("the transaction has not started")
        return self._tid

    @property
    def accepted(self) -> bool:
        return self.outcome is not None and self.outcome.msgtype == MsgType.ACCEPTED

    async def __aenter__(self) -> "AsyncTransaction":
        self.channel.channel.start_tx(self.timeout_ms)
        self._tid = self.channel.tid
        return self

    def send(self, data: Data, *, accept: bool = False) -> None:
        """Send a message of the transaction; ``accept=True`` makes it the last one and accepts."""
        self.channel.send(data, accept=accept)
        if accept:
            self._voted = True

    async def receive(self, timeout: Optional[float] = None) -> Optional[Message]:
        """The next reply; None once the transaction is accepted; raises
        :class:`rtr.Rejected` if it was rejected, :class:`rtr.Timeout` after
        ``timeout`` seconds."""
        if self.outcome is not None:
            self._after_outcome()
            return None
        while True:
            msg = await self.channel.receive(timeout)
            _check_not_closed(msg)
            if msg.tid != self._tid:
                continue
            if msg.msgtype in (MsgType.ACCEPTED, MsgType.REJECTED):
                self.outcome = msg
                self._after_outcome()
                return None
            return msg

    async def prepare(self, *, reason: int = 0, data: Data = b"", timeout: Optional[float] = None) -> Message:
        """``rtr_prepare_tx`` and await ``MsgType.PREPARED`` (see :meth:`rtr.Transaction.prepare`)."""
        self.channel.channel.prepare(reason=reason, data=data)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            msg = await self.channel.receive(left)
            _check_not_closed(msg)
            if msg.tid != self._tid:
                continue
            if msg.msgtype == MsgType.PREPARED:
                return msg
            if msg.msgtype in (MsgType.ACCEPTED, MsgType.REJECTED):
                self.outcome = msg
                self._after_outcome()
                raise WrongState(f"transaction {self._tid} ended before it was prepared")
            if msg.msgtype == MsgType.REPLY:
                self.late_replies.append(msg)

    def accept(self, reason: int = 0) -> None:
        """Accept now (``rtr_accept_tx``) with a reason; leaving then only awaits the outcome."""
        self.channel.accept(reason)
        self._voted = True

    def reject(self, reason: int = 0) -> None:
        """Abort on purpose (``rtr_reject_tx``); leaving then raises nothing."""
        self.channel.reject(reason)
        self._voted = True
        self._rejected_by_us = True

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if exc_type is not None:
            if self.outcome is None and not self._voted:
                try:
                    self.channel.reject()
                except WrongState:
                    pass  # already over or accepted
            try:
                await self._wait_outcome(self.outcome_timeout if self.outcome_timeout is not None else EXIT_WAIT)
            except (Timeout, InvalidChannel, asyncio.CancelledError):
                pass
            return
        if self.outcome is None and not self._voted:
            self.channel.accept()
        await self._wait_outcome(self.outcome_timeout)
        if not self.accepted and not self._rejected_by_us:
            raise _rejected(self.outcome)

    def _after_outcome(self) -> None:
        if not self.accepted and not self._rejected_by_us:
            raise _rejected(self.outcome)

    async def _wait_outcome(self, timeout: Optional[float]) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.outcome is None:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            msg = await self.channel.receive(left)
            _check_not_closed(msg)
            if msg.tid != self._tid:
                continue
            if msg.msgtype in (MsgType.ACCEPTED, MsgType.REJECTED):
                self.outcome = msg
            elif msg.msgtype == MsgType.REPLY:
                self.late_replies.append(msg)


async def serve(
    channels: Union[AsyncChannel, Sequence[AsyncChannel]],
    handler: AsyncHandler,
    *,
    idle_timeout: Optional[float] = None,
    max_transactions: Optional[int] = None,
    on_outcome: Optional[Callable[[Message], Any]] = None,
) -> ServeStats:
    """:func:`rtr.serve` as a coroutine: serve transactions on one or several
    server channels of one connection, one transaction at a time (run one
    ``serve`` task per channel for more). ``handler(msg)`` may be a plain
    function or an ``async def``: what it returns (bytes or str) is the
    reply; None sends none; an exception rejects the transaction (with the
    exception's ``reason`` attribute when it has one). Votes as in
    :func:`rtr.serve`. Ends after ``idle_timeout`` seconds without a message,
    after ``max_transactions`` outcomes, or when RTR closed every channel;
    cancel the task to stop it (a transaction in progress is then left to
    RTR, which presents it to another server when the channel closes)."""
    chans = [channels] if isinstance(channels, AsyncChannel) else list(channels)
    if not chans:
        raise ValueError("serve needs at least one channel")
    aconn = chans[0].connection
    if any(c.connection is not aconn for c in chans):
        raise ValueError("serve: all channels must belong to one AsyncConnection")
    by_id: Dict[int, AsyncChannel] = {c.id: c for c in chans}
    stats = ServeStats()
    voted: Dict[int, Tid] = {}
    while by_id:
        try:
            msg = await aconn.receive_message(list(by_id), idle_timeout)
        except Timeout:
            break
        except InvalidChannel:
            break  # every channel is gone
        ch = by_id.get(msg.channel)
        if ch is None:
            continue
        mt = msg.msgtype
        if msg.is_data:
            stats.messages += 1
            await _handle(ch, msg, handler, stats, voted)
        elif mt == MsgType.PREPARE:
            if voted.get(ch.id) != msg.tid:
                _vote(ch, msg.tid, voted)
        elif mt in (MsgType.ACCEPTED, MsgType.REJECTED):
            voted.pop(ch.id, None)
            if mt == MsgType.ACCEPTED:
                stats.accepted += 1
            else:
                stats.rejected += 1
            if on_outcome is not None:
                result = on_outcome(msg)
                if inspect.isawaitable(result):
                    await result
            if max_transactions is not None and stats.accepted + stats.rejected >= max_transactions:
                break
        elif mt == MsgType.CLOSED:
            del by_id[ch.id]
    return stats


async def _handle(
    ch: AsyncChannel, msg: Message, handler: AsyncHandler, stats: ServeStats, voted: Dict[int, Tid]
) -> None:
    try:
        result = handler(msg)
        if inspect.isawaitable(result):
            result = await result
    except Exception as e:  # noqa: BLE001 - any failure of the handler rejects
        stats.handler_errors += 1
        reason = getattr(e, "reason", 0)
        if voted.get(ch.id) != msg.tid:
            voted[ch.id] = msg.tid
            try:
                ch.reject(reason if isinstance(reason, int) and reason >= 0 else 0)
            except WrongState:
                pass
        return
    explicit = bool(ch.channel.flags & OpenFlag.EXPLICIT_ACCEPT)
    must_vote = explicit and voted.get(ch.id) != msg.tid
    if result is not None:
        ch.reply(result, accept=must_vote)  # type: ignore[arg-type]
        if must_vote:
            voted[ch.id] = msg.tid
    elif must_vote:
        _vote(ch, msg.tid, voted)


def _vote(ch: AsyncChannel, tid: Tid, voted: Dict[int, Tid]) -> None:
    voted[ch.id] = tid
    try:
        ch.accept()
    except WrongState:
        pass
