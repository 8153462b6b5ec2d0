"""Flags, message types, statuses and key types as Python enums.

Built at import time from the tables of the native module, which are
rtr-core's own tables (the same ones the C header is generated from), so the
values can never drift from C. ``_enums.pyi`` spells the members out for
type checkers; a test (``mypy.stubtest``) checks it against this module.
"""

from __future__ import annotations

import enum
from typing import Dict, List, Tuple

from . import _rtr

# RTR_F_<GROUP>_<NAME> -> the enum class of that group.
_FLAG_GROUPS: Dict[str, str] = {
    "OPE": "OpenFlag",
    "SEN": "SendFlag",
    "REP": "ReplyFlag",
    "ACC": "AcceptFlag",
    "REJ": "RejectFlag",
    "CLO": "CloseFlag",
    "TID": "TidFlag",
}


def _flag_members() -> Dict[str, List[Tuple[str, int]]]:
    groups: Dict[str, List[Tuple[str, int]]] = {}
    for cname, value in _rtr.FLAGS:
        _rtr_prefix, _f, group, name = cname.split("_", 3)
        groups.setdefault(group, []).append((name, value))
    return groups


_groups = _flag_members()


def _flag_enum(group: str) -> type:
    cls = enum.IntFlag(_FLAG_GROUPS[group], _groups.get(group, []), module=__name__)  # type: ignore[misc]
    cls.__doc__ = f"The RTR_F_{group}_* flags."
    return cls


OpenFlag = _flag_enum("OPE")
SendFlag = _flag_enum("SEN")
ReplyFlag = _flag_enum("REP")
AcceptFlag = _flag_enum("ACC")
RejectFlag = _flag_enum("REJ")
CloseFlag = _flag_enum("CLO")
TidFlag = _flag_enum("TID")

MsgType = enum.IntEnum(  # type: ignore[misc]
    "MsgType",
    [(cname[len("rtr_mt_"):].upper(), code) for cname, code in _rtr.MSGTYPES],
    module=__name__,
)
MsgType.__doc__ = "Message types (rtr_msg_type_t): MsgType.MSG1 is rtr_mt_msg1."

Status = enum.IntEnum(  # type: ignore[misc]
    "Status",
    [(cname[len("RTR_STS_"):], code) for cname, code, _text in _rtr.STATUSES],
    module=__name__,
)
Status.__doc__ = "RTR status values: Status.INVCHANNEL is RTR_STS_INVCHANNEL."

_TEXT: Dict[int, str] = {code: text for _cname, code, text in _rtr.STATUSES}


def _status_text(self: enum.IntEnum) -> str:
    """The message text of the status (what rtr_error_text returns)."""
    return _TEXT[int(self)]


def _status_c_name(self: enum.IntEnum) -> str:
    """The C name of the status, e.g. ``RTR_STS_OK``."""
    return "RTR_STS_" + self.name


Status.text = property(_status_text)  # type: ignore[attr-defined]
Status.c_name = property(_status_c_name)  # type: ignore[attr-defined]

KeyType = enum.IntEnum("KeyType", list(_rtr.KEY_TYPES), module=__name__)  # type: ignore[misc]


def _event_members() -> List[Tuple[str, int]]:
    # The named RTR events first, the bounds of the ranges after them: a
    # value that is both (256 is RTRBASE and FACREADY) is then known by the
    # event's name, and the bound is an alias of it.
    members = [(cname[len("RTR_EVTNUM_"):], code) for cname, code in _rtr.EVENTS]
    bounds = {"USERBASE", "USERMAX", "RTRBASE", "RTRMAX"}
    return [m for m in members if m[0] not in bounds] + [m for m in members if m[0] in bounds]


EvtNum = enum.IntEnum("EvtNum", _event_members(), module=__name__)  # type: ignore[misc]
EvtNum.__doc__ = (
    "Event numbers (rtr_evtnum_t): EvtNum.SRPRIMARY is RTR_EVTNUM_SRPRIMARY. User events are "
    "USERBASE (0) to USERMAX (250), RTR events RTRBASE to RTRMAX; USERDEF, RTRDEF, UP_TO and "
    "ENDLIST are the markers of an ``events=`` subscription list, e.g. "
    "[EvtNum.RTRDEF, EvtNum.USERDEF, EvtNum.USERBASE, EvtNum.UP_TO, EvtNum.USERMAX] (the list needs no ENDLIST in Python)."
)
KeyType.__doc__ = "Key segment types (rtr_keyseg_type_t): KeyType.UNSIGNED is rtr_keyseg_unsigned."

# Flag groups found in the table but not named above: a new group in core
# shows up here (and fails the stub test) instead of vanishing.
_UNNAMED_FLAG_GROUPS = sorted(set(_groups) - set(_FLAG_GROUPS))

del _groups
