"""A received message (the message status block and its data)."""

from __future__ import annotations

from typing import Optional, Tuple, Union

from ._enums import MsgType, Status
from ._rtr import Tid


class Message:
    """One message from :meth:`rtr.Connection.receive_message`.

    Attributes:
        channel: the channel it arrived on.
        msgtype: what it is (:class:`rtr.MsgType`).
        usrhdl: the channel's user handle when it was received.
        tid: the transaction id (all zero, and false, outside a transaction).
        evtnum: the event number (event messages).
        data: the message bytes (for status-carrying types, the 8 bytes of
            ``rtr_status_data_t``).
        status: for OPENED, CLOSED, ACCEPTED, REJECTED and PREPARED, the
            status (:class:`rtr.Status` when known); otherwise None.
        reason: for those types, the reason code; otherwise None.
    """

    __slots__ = ("channel", "msgtype", "usrhdl", "tid", "evtnum", "data", "status", "reason")

    channel: int
    msgtype: Union[MsgType, int]
    usrhdl: int
    tid: Tid
    evtnum: int
    data: bytes
    status: Optional[Union[Status, int]]
    reason: Optional[int]

    def __init__(
        self,
        channel: int,
        msgtype: Union[MsgType, int],
        usrhdl: int,
        tid: Tid,
        evtnum: int,
        data: bytes,
        status: Optional[Union[Status, int]] = None,
        reason: Optional[int] = None,
    ) -> None:
        self.channel = channel
        self.msgtype = msgtype
        self.usrhdl = usrhdl
        self.tid = tid
        self.evtnum = evtnum
        self.data = data
        self.status = status
        self.reason = reason

    @classmethod
    def _from_native(cls, raw: Tuple[int, int, int, Tid, int, bytes, Optional[int], Optional[int]]) -> "Message":
        channel, mt, usrhdl, tid, evtnum, data, status, reason = raw
        msgtype: Union[MsgType, int] = _enum_or_int(MsgType, mt)
        st: Optional[Union[Status, int]] = None if status is None else _enum_or_int(Status, status)
        return cls(channel, msgtype, usrhdl, tid, evtnum, data, st, reason)

    @property
    def is_data(self) -> bool:
        """True for the messages a server processes: MSG1, MSG1_UNCERTAIN and MSGN."""
        return self.msgtype in (MsgType.MSG1, MsgType.MSG1_UNCERTAIN, MsgType.MSGN)

    def __repr__(self) -> str:
        mt = self.msgtype.name if isinstance(self.msgtype, MsgType) else str(self.msgtype)
        extra = ""
        if self.status is not None:
            st = self.status.name if isinstance(self.status, Status) else str(self.status)
            extra = f", status={st}, reason={self.reason}"
        elif self.data:
            extra = f", data={self.data[:32]!r}{'...' if len(self.data) > 32 else ''}"
        return f"Message(channel={self.channel}, msgtype={mt}, tid='{self.tid}'{extra})"


def _enum_or_int(enum_cls, value: int):  # type: ignore[no-untyped-def]
    try:
        return enum_cls(value)
    except ValueError:
        return value
