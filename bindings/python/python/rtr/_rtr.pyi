"""Type stubs of the private native module ``rtr._rtr`` (checked by mypy.stubtest)."""

import os
from typing import Any, Callable, Iterable, List, Mapping, Optional, Tuple, Union, final

__all__ = [
    "Connection",
    "Tid",
    "error_text",
    "FLAGS",
    "MSGTYPES",
    "STATUSES",
    "KEY_TYPES",
    "MAX_MSGLEN",
    "MAX_CHANNELS",
    "MAX_NUMSEG",
    "DEFAULT_FACILITY",
    "POLL_INTERVAL",
]

FLAGS: List[Tuple[str, int]]
MSGTYPES: List[Tuple[str, int]]
STATUSES: List[Tuple[str, int, str]]
KEY_TYPES: List[Tuple[str, int]]
MAX_MSGLEN: int
MAX_CHANNELS: int
MAX_NUMSEG: int
DEFAULT_FACILITY: str
POLL_INTERVAL: float

def error_text(status: int) -> str: ...

@final
class Tid:
    def __new__(cls, words: Iterable[int]) -> "Tid": ...
    @property
    def words(self) -> Tuple[int, int, int, int, int, int, int]: ...
    @property
    def node(self) -> int: ...
    @property
    def incarnation(self) -> int: ...
    @property
    def conn(self) -> int: ...
    @property
    def seq(self) -> int: ...
    def __bool__(self) -> bool: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __ne__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

_Int = Any  # an int, or an object with __index__ (a Channel)
_Data = Union[bytes, bytearray, memoryview, str]
_KeyTuple = Tuple[int, int, int, Union[int, bytes, bytearray, str, None], Union[int, bytes, bytearray, str, None]]
_Received = Tuple[int, int, int, Tid, int, bytes, Optional[int], Optional[int]]
_QualifierValue = Union[None, int, str]
_Qualifiers = Union[
    Mapping[str, _QualifierValue], Mapping[int, _QualifierValue], Iterable[Tuple[Union[str, int], _QualifierValue]]
]

@final
class Connection:
    @staticmethod
    def process() -> "Connection": ...
    @staticmethod
    def embedded(journal_dir: Union[str, "os.PathLike[str]", None] = None) -> "Connection": ...
    @staticmethod
    def daemon(socket: Union[str, "os.PathLike[str]"]) -> "Connection": ...
    def connect(self) -> "Connection": ...
    def open_channel(
        self,
        flags: _Int,
        facility: Optional[str] = None,
        recipient: Optional[str] = None,
        events: Optional[Iterable[int]] = None,
        access: Optional[str] = None,
        keys: Optional[Iterable[_KeyTuple]] = None,
        partition: Optional[str] = None,
    ) -> int: ...
    def close_channel(self, channel: _Int, flags: Optional[_Int] = None) -> None: ...
    def start_tx(self, channel: _Int, flags: Optional[_Int] = None, timeout_ms: Optional[_Int] = None) -> None: ...
    def send_to_server(self, channel: _Int, data: _Data, flags: Optional[_Int] = None) -> None: ...
    def reply_to_client(self, channel: _Int, data: _Data, flags: Optional[_Int] = None) -> None: ...
    def set_wakeup(self, callback: Optional[Callable[[], None]] = None) -> None: ...
    def events_dropped(self) -> int: ...
    def wakeup_fd(self) -> int: ...
    def prepare_tx(
        self,
        channel: _Int,
        reason: Optional[_Int] = None,
        data: Optional[_Data] = None,
        flags: Optional[_Int] = None,
    ) -> None: ...
    def broadcast_event(
        self,
        channel: _Int,
        evtnum: int,
        data: Optional[_Data] = None,
        recipient: Optional[str] = None,
        flags: Optional[_Int] = None,
    ) -> None: ...
    def accept_tx(self, channel: _Int, flags: Optional[_Int] = None, reason: Optional[_Int] = None) -> None: ...
    def reject_tx(self, channel: _Int, flags: Optional[_Int] = None, reason: Optional[_Int] = None) -> None: ...
    def get_tid(self, channel: _Int, flags: Optional[_Int] = None) -> Tid: ...
    def set_user_handle(self, channel: _Int, handle: _Int) -> None: ...
    def get_user_handle(self, channel: _Int) -> int: ...
    def request_info(
        self,
        infcla: str,
        selitm: Optional[str] = None,
        selval: Optional[str] = None,
        getitms: Optional[str] = None,
        flags: Optional[_Int] = None,
    ) -> int: ...
    def set_info(
        self,
        verb: Union[str, int],
        object: Union[str, int],
        select: _Qualifiers,
        set: _Qualifiers,
        flags: Optional[_Int] = None,
    ) -> int: ...
    def receive(
        self, channels: Union[None, _Int, Iterable[_Int]] = None, timeout: Optional[float] = None
    ) -> _Received: ...
