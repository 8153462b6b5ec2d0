"""Key segments: how a server channel declares the key range it serves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple, Union

from ._enums import KeyType

Bound = Union[int, bytes, bytearray, str, None]


@dataclass(frozen=True)
class KeySegment:
    """One key segment (``rtr_keyseg_t``).

    RTR reads ``length`` bytes at ``offset`` of every client message and
    routes the message to the server whose range holds them, bounds
    inclusive.

    * ``UNSIGNED`` / ``SIGNED``: ``length`` is 1, 2, 4 or 8; the key is a C
      integer in native byte order. Give the bounds as ints (they are written
      as ``length`` native-endian bytes, as C has them) or as raw bytes.
    * ``STRING``: the key is compared bytewise; bounds are bytes or str
      (UTF-8), NUL-padded to ``length``.
    * A bound of None is the lowest / highest value of the type.

    Example: ``KeySegment(KeyType.UNSIGNED, length=4, offset=0, low=0, high=999)``.
    """

    type: Union[KeyType, int]
    length: int = 4
    offset: int = 0
    low: Bound = None
    high: Bound = None

    def _native(self) -> Tuple[int, int, int, Bound, Bound]:
        return (self.type, self.length, self.offset, self.low, self.high)  # type: ignore[return-value]


def _native_keys(keys: Optional[object]) -> Optional[list]:  # type: ignore[type-arg]
    """KeySegments (or raw 5-tuples) as the tuples the native module takes."""
    if keys is None:
        return None
    if isinstance(keys, KeySegment):
        keys = [keys]
    out = []
    for k in keys:  # type: ignore[attr-defined]
        out.append(k._native() if isinstance(k, KeySegment) else k)
    return out
