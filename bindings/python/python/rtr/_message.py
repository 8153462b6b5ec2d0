"""A received message (the message status block and its data), as an
immutable value."""

from __future__ import annotations

import enum
from typing import Any, Optional, Tuple, Type, TypeVar, Union

from ._enums import EvtNum, MsgType, Status
from ._rtr import Tid

_FIELDS = ("channel", "msgtype", "usrhdl", "tid", "evtnum", "data", "status", "reason")

_E = TypeVar("_E", bound=enum.IntEnum)


class Message:
    """One message from :meth:`rtr.Connection.receive_message`.

    Attributes:
        channel: the channel it arrived on.
        msgtype: what it is (:class:`rtr.MsgType`).
        usrhdl: the channel's user handle when it was received.
        tid: the transaction id (all zero, and false, outside a transaction).
        evtnum: the event number of an event message: an :class:`rtr.EvtNum`
            for ``RTR_EVENT`` (``EvtNum.SRPRIMARY``, ...), the user's own
            int for ``USER_EVENT``; 0 for other messages.
        data: the message bytes (for status-carrying types, the 8 bytes of
            ``rtr_status_data_t``).
        status: for OPENED, CLOSED, ACCEPTED, REJECTED and PREPARED, the
            status (:class:`rtr.Status`); otherwise None.
        reason: for those types, the reason code; otherwise None.

    A message is a value: immutable, compared and hashed by all its fields,
    picklable and copyable. Its ``repr`` is for reading (it shows at most 32
    bytes of data), not for ``eval``.
    """

    __slots__ = _FIELDS

    channel: int
    msgtype: Union[MsgType, int]
    usrhdl: int
    tid: Tid
    evtnum: Union[EvtNum, int]
    data: bytes
    status: Optional[Union[Status, int]]
    reason: Optional[int]

    def __init__(
        self,
        channel: int,
        msgtype: Union[MsgType, int],
        usrhdl: int,
        tid: Tid,
        evtnum: Union[EvtNum, int],
        data: bytes,
        status: Optional[Union[Status, int]] = None,
        reason: Optional[int] = None,
    ) -> None:
        for name, value in zip(_FIELDS, (channel, msgtype, usrhdl, tid, evtnum, data, status, reason)):
            object.__setattr__(self, name, value)

    @classmethod
    def _from_native(cls, raw: Tuple[int, int, int, Tid, int, bytes, Optional[int], Optional[int]]) -> "Message":
        channel, mt, usrhdl, tid, evtnum, data, status, reason = raw
        msgtype: Union[MsgType, int] = _enum_or_int(MsgType, mt)
        st: Optional[Union[Status, int]] = None if status is None else _enum_or_int(Status, status)
        evt: Union[EvtNum, int] = _enum_or_int(EvtNum, evtnum) if msgtype == MsgType.RTR_EVENT else evtnum
        return cls(channel, msgtype, usrhdl, tid, evt, data, st, reason)

    @property
    def is_data(self) -> bool:
        """True for the messages a server processes: MSG1, MSG1_UNCERTAIN and MSGN."""
        return self.msgtype in (MsgType.MSG1, MsgType.MSG1_UNCERTAIN, MsgType.MSGN)

    def _fields(self) -> Tuple[Any, ...]:
        return tuple(getattr(self, name) for name in _FIELDS)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"rtr.Message is immutable (cannot set {name!r})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"rtr.Message is immutable (cannot delete {name!r})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __reduce__(self) -> Tuple[Type["Message"], Tuple[Any, ...]]:
        return (type(self), self._fields())

    def __copy__(self) -> "Message":
        return self

    def __deepcopy__(self, memo: object) -> "Message":
        return self

    def __repr__(self) -> str:
        mt = self.msgtype.name if isinstance(self.msgtype, MsgType) else str(self.msgtype)
        extra = ""
        if self.msgtype in (MsgType.USER_EVENT, MsgType.RTR_EVENT):
            evt = self.evtnum.name if isinstance(self.evtnum, EvtNum) else str(self.evtnum)
            extra += f", evtnum={evt}"
        if self.status is not None:
            st = self.status.name if isinstance(self.status, Status) else str(self.status)
            extra += f", status={st}, reason={self.reason}"
        elif self.data:
            extra += f", data={self.data[:32]!r}{'...' if len(self.data) > 32 else ''}"
        return f"Message(channel={self.channel}, msgtype={mt}, tid='{self.tid}'{extra})"


def _enum_or_int(enum_cls: Type[_E], value: int) -> Union[_E, int]:
    try:
        return enum_cls(value)
    except ValueError:
        return value
