"""The exception tree of the ``rtr`` package.

Every error the binding raises for an RTR status is an instance of
:class:`RtrError` (with ``.status``, ``.name`` and ``.text``), of the
subclass picked for the status by :data:`_FAMILY` below: the one place where
statuses map to exception classes. The native module calls
:func:`from_status` for every failed call; the Python helpers call it for
statuses delivered in messages (``rtr_mt_closed``, ``rtr_mt_rejected``).
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple, Type, Union

from . import _rtr
from ._enums import Status

_NAMES: Dict[int, str] = {code: cname for cname, code, _text in _rtr.STATUSES}


class RtrError(Exception):
    """An RTR call failed, or RTR reported a failure.

    Attributes:
        status: the RTR status, a :class:`rtr.Status` (an ``int`` only for
            a value RTR does not define, which no call of this library
            raises).
        name: its C name, e.g. ``"RTR_STS_INVCHANNEL"``.
        text: its message text (what ``rtr_error_text`` returns).
    """

    status: Union[Status, int]
    name: str
    text: str

    def __init__(self, message: str, status: Optional[int] = None) -> None:
        super().__init__(message)
        if status is None:
            status = _STATUS_OF.get(type(self), _rtr_status("RTR_STS_INTERNAL"))
        self.status = _status(status)
        self.name = _NAMES.get(status, f"RTR status {status}")
        self.text = _rtr.error_text(status)

    def __reduce__(self) -> Tuple[Any, ...]:
        return (type(self), (str(self), int(self.status)))


class InvalidArgument(RtrError, ValueError):
    """An argument has a bad value (RTR_STS_INV*: flags, lengths, names, keys...)."""


class InvalidChannel(RtrError):
    """The channel is not open (RTR_STS_INVCHANNEL), or no channel to receive from (RTR_STS_INVRCVCHAN)."""


class WrongState(RtrError):
    """The call does not fit the channel: client call on a server channel or
    the reverse, no transaction active, transaction already accepted or
    already active."""


class Timeout(RtrError, TimeoutError):
    """No message arrived before the receive timeout (RTR_STS_TIMOUT)."""


class NodeUnavailable(RtrError):
    """The RTR node stopped or cannot be reached (RTR_STS_NODEUNAVAIL)."""


class Unsupported(RtrError):
    """RTR names the feature but this implementation does not offer it yet (RTR_STS_UNSUPPORTED)."""


class LimitExceeded(RtrError):
    """A resource limit: too many channels, journal full, no memory."""


class OpenRefused(RtrError):
    """RTR refused to open a server channel: its key range overlaps another
    partition, its key layout differs, or concurrency is not allowed."""


class Rejected(RtrError):
    """The transaction was rejected (aborted).

    ``status`` says why (e.g. RTR_STS_REJECTED when a participant rejected,
    RTR_STS_TIMOUT for a transaction timeout, RTR_STS_NODSTFND when no
    server serves the key); ``reason`` is the rejecter's reason code.
    """

    reason: int
    #: The REJECTED message (an :class:`rtr.Message`), when there is one.
    outcome: Optional[Any] = None

    def __init__(self, message: str, status: Optional[int] = None, reason: int = 0) -> None:
        super().__init__(message, status)
        self.reason = reason

    def __reduce__(self) -> Tuple[Any, ...]:
        return (type(self), (str(self), int(self.status), self.reason))


class InternalError(RtrError):
    """A bug in RTR (RTR_STS_INTERNAL); please report it."""


def _status(code: int) -> Union[Status, int]:
    """The :class:`rtr.Status` of a code (the code itself if RTR defines none)."""
    try:
        return Status(code)
    except ValueError:
        return code


def _rtr_status(cname: str) -> int:
    for name, code, _text in _rtr.STATUSES:
        if name == cname:
            return code
    raise LookupError(cname)


# The one table from status to exception class. Statuses not named here are
# plain RtrError (for example the outcome statuses, which reach Python
# through Rejected).
_FAMILY_BY_NAME: Dict[str, Type[RtrError]] = {
    "RTR_STS_INVCHANNEL": InvalidChannel,
    "RTR_STS_INVRCVCHAN": InvalidChannel,
    "RTR_STS_CHANCLOSED": InvalidChannel,
    "RTR_STS_INVFLAGS": InvalidArgument,
    "RTR_STS_INVFACNAM": InvalidArgument,
    "RTR_STS_INVRCPNAM": InvalidArgument,
    "RTR_STS_INVACCESS": InvalidArgument,
    "RTR_STS_INVEVTNUM": InvalidArgument,
    "RTR_STS_INVPEVTNUM": InvalidArgument,
    "RTR_STS_INVRCPSPC": InvalidArgument,
    "RTR_STS_INVPMSG": InvalidArgument,
    "RTR_STS_INVTIMOUTMS": InvalidArgument,
    "RTR_STS_INVPMSGSB": InvalidArgument,
    "RTR_STS_INVJOINCHAN": InvalidArgument,
    "RTR_STS_INVMSGFMT": InvalidArgument,
    "RTR_STS_INVMSGLEN": InvalidArgument,
    "RTR_STS_INVMSGSIZE": InvalidArgument,
    "RTR_STS_INVNUMSEG": InvalidArgument,
    "RTR_STS_INVOBJCT": InvalidArgument,
    "RTR_STS_INVPKEYSEG": InvalidArgument,
    "RTR_STS_INVREASON": InvalidArgument,
    "RTR_STS_INVRMNAME": InvalidArgument,
    "RTR_STS_INVSELITM": InvalidArgument,
    "RTR_STS_INVQUALIFIER": InvalidArgument,
    "RTR_STS_INVPTR": InvalidArgument,
    "RTR_STS_KEYMSGSHORT": InvalidArgument,
    "RTR_STS_INVOP4CLI": WrongState,
    "RTR_STS_INVOP4SRV": WrongState,
    "RTR_STS_NOTACTTX": WrongState,
    "RTR_STS_TXALRACC": WrongState,
    "RTR_STS_TXACTIVE": WrongState,
    "RTR_STS_TIMOUT": Timeout,
    "RTR_STS_NODEUNAVAIL": NodeUnavailable,
    "RTR_STS_UNSUPPORTED": Unsupported,
    "RTR_STS_TOOMANYCHN": LimitExceeded,
    "RTR_STS_JNLFULL": LimitExceeded,
    "RTR_STS_INSVIRMEM": LimitExceeded,
    "RTR_STS_KEYOVERLAP": OpenRefused,
    "RTR_STS_KEYLAYOUT": OpenRefused,
    "RTR_STS_NOCONCURRENT": OpenRefused,
    "RTR_STS_INTERNAL": InternalError,
}

_FAMILY: Dict[int, Type[RtrError]] = {_rtr_status(n): cls for n, cls in _FAMILY_BY_NAME.items()}

# A class raised without a status gets its first status in the table.
_STATUS_OF: Dict[Type[RtrError], int] = {}
for _code, _cls in _FAMILY.items():
    _STATUS_OF.setdefault(_cls, _code)


def error_class(status: int) -> Type[RtrError]:
    """The exception class for an RTR status."""
    return _FAMILY.get(status, RtrError)


def from_status(status: int, message: str) -> RtrError:
    """The exception for ``status``; called by the native module for every failed call."""
    return error_class(status)(message, status)
