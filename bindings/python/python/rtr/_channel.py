"""Channel objects: a channel id with its connection, as a context manager."""

from __future__ import annotations

from types import TracebackType
from typing import Iterator, Optional, Type

from ._enums import MsgType, OpenFlag, ReplyFlag, SendFlag
from ._errors import InvalidChannel
from ._keywords import _c_order
from ._message import Message
from ._rtr import Tid


class Channel:
    """An open channel of a :class:`rtr.Connection`.

    It stands for its channel id (``int(ch)``, and it can be passed wherever
    a channel id is taken). ``with`` closes it. Its methods are the RTR calls
    on this channel; flags are keyword-only, as on :class:`rtr.Connection`.
    """

    __slots__ = ("connection", "id", "flags", "_closed")

    def __init__(self, connection: "Connection", channel_id: int, *, flags: int) -> None:
        self.connection = connection
        self.id = channel_id
        self.flags = OpenFlag(flags)
        self._closed = False

    @classmethod
    def _opened(cls, conn: "Connection", channel_id: int, flags: int, wait: Optional[float]) -> "Channel":
        ch = cls(conn, channel_id, flags=flags)
        if wait is not None:
            try:
                ch.wait_opened(wait)
            except BaseException:
                ch._close_quietly()
                raise
        return ch

    def wait_opened(self, timeout: Optional[float] = 30.0) -> Message:
        """Wait for ``MsgType.OPENED``; raise the open's error if RTR closed it instead."""
        msg = self.connection.receive_message(self.id, timeout)
        if msg.msgtype == MsgType.CLOSED:
            # The channel stays allocated until closed: the caller (or
            # _opened) releases it.
            from ._connection import _closed_error

            raise _closed_error(msg, f"channel {self.id} could not be opened")
        if msg.msgtype != MsgType.OPENED:
            raise InvalidChannel(f"channel {self.id}: expected rtr_mt_opened, got {msg!r}")
        return msg

    @property
    def is_server(self) -> bool:
        return bool(self.flags & OpenFlag.SERVER)

    def __index__(self) -> int:
        return self.id

    def __int__(self) -> int:
        return self.id

    def __repr__(self) -> str:
        role = "server" if self.is_server else "client"
        state = " closed" if self._closed else ""
        return f"<rtr.Channel {self.id} {role}{state}>"

    # ---------------------------------------------------------- RTR calls

    @_c_order(0, "close(flags=...)")
    def close(self, *, flags: int = 0) -> None:
        """``rtr_close_channel`` (closing twice does nothing)."""
        if not self._closed:
            self._closed = True
            self.connection.close_channel(self.id, flags=flags)

    @_c_order(1, "start_tx(timeout_ms, flags=...)")
    def start_tx(self, timeout_ms: Optional[int] = None, *, flags: int = 0) -> None:
        """``rtr_start_tx`` (``timeout_ms`` None or 0: no transaction timeout)."""
        self.connection.start_tx(self.id, timeout_ms=timeout_ms, flags=flags)

    @_c_order(1, "send(data, accept=..., flags=...)")
    def send(self, data: "Data", *, accept: bool = False, flags: int = 0) -> None:
        """``rtr_send_to_server``; ``accept=True`` adds ``SendFlag.ACCEPT``."""
        self.connection.send_to_server(self.id, data, flags=flags | (SendFlag.ACCEPT if accept else 0))

    @_c_order(1, "reply(data, accept=..., flags=...)")
    def reply(self, data: "Data", *, accept: bool = False, flags: int = 0) -> None:
        """``rtr_reply_to_client``; ``accept=True`` adds ``ReplyFlag.ACCEPT``."""
        self.connection.reply_to_client(self.id, data, flags=flags | (ReplyFlag.ACCEPT if accept else 0))

    @_c_order(1, "accept(reason, flags=...)")
    def accept(self, reason: int = 0, *, flags: int = 0) -> None:
        """``rtr_accept_tx``."""
        self.connection.accept_tx(self.id, reason=reason, flags=flags)

    @_c_order(1, "reject(reason, flags=...)")
    def reject(self, reason: int = 0, *, flags: int = 0) -> None:
        """``rtr_reject_tx``."""
        self.connection.reject_tx(self.id, reason=reason, flags=flags)

    @_c_order(0, "prepare(reason=..., data=..., flags=...)")
    def prepare(self, *, reason: int = 0, data: "Data" = b"", flags: int = 0) -> None:
        """``rtr_prepare_tx``: ask the servers to vote (``MsgType.PREPARED`` follows)."""
        self.connection.prepare_tx(self.id, reason=reason, data=data, flags=flags)

    @_c_order(1, "broadcast_event(data, evtnum=..., recipient=..., flags=...)")
    def broadcast_event(
        self, data: "Data" = b"", *, evtnum: int, recipient: Optional[str] = None, flags: int = 0
    ) -> None:
        """``rtr_broadcast_event`` from this channel."""
        self.connection.broadcast_event(self.id, data, evtnum=evtnum, recipient=recipient, flags=flags)

    def receive(self, timeout: Optional[float] = None) -> Message:
        """The next message on this channel (raises :class:`rtr.Timeout`)."""
        return self.connection.receive_message(self.id, timeout)

    def messages(self, timeout: Optional[float] = None) -> Iterator[Message]:
        """Messages on this channel until none arrives within ``timeout`` seconds."""
        return self.connection.messages(self.id, timeout)

    @property
    def tid(self) -> Tid:
        """``rtr_get_tid``: the active transaction's id (raises WrongState when none)."""
        return self.connection.get_tid(self.id)

    @property
    def user_handle(self) -> int:
        return self.connection.get_user_handle(self.id)

    @user_handle.setter
    def user_handle(self, handle: int) -> None:
        self.connection.set_user_handle(self.id, handle)

    # ------------------------------------------------------------- helpers

    def transaction(
        self, timeout_ms: Optional[int] = None, *, outcome_timeout: Optional[float] = None
    ) -> "Transaction":
        """A client transaction as a context manager: accepted when the block
        ends normally (raising :class:`rtr.Rejected` if RTR rejects it),
        rejected when it raises. See :class:`rtr.Transaction`."""
        return Transaction(self, timeout_ms, outcome_timeout)

    def __enter__(self) -> "Channel":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        # RTR may have closed the channel already (rtr_mt_closed): not an error here.
        self._close_quietly()

    def _close_quietly(self) -> None:
        try:
            self.close()
        except InvalidChannel:
            pass


# At the end (import cycles): the annotations above name these, and
# typing.get_type_hints looks them up here at run time.
from ._connection import Connection, Data  # noqa: E402
from ._transaction import Transaction  # noqa: E402
