"""The RTR C API inside this Python process.

The native module ``rtr._rtr`` also carries the C API of ``librtr``
(``rtr_open_channel``, ``rtr_receive_message``, ...), over the same core and
therefore the same process-wide node as :class:`rtr.Connection`. C code
compiled against ``include/rtr.h`` and loaded with :func:`load_c_library`
binds to those functions, so a C server and a Python client (or the
reverse) in one process see each other, exactly as two C programs attached
to one node would.

(A separate ``librtr.so`` loaded on its own would run a node of its own;
C and Python in *different* processes meet through the node daemon:
``RTR_NODE_SOCKET``, or :meth:`rtr.Connection.daemon`.)
"""

from __future__ import annotations

import ctypes
import os
from typing import Union

from . import _rtr

_promoted = False


def c_api_path() -> str:
    """The file of the native module, which exports the RTR C API."""
    path = _rtr.__file__
    assert path is not None
    return path


def expose_c_api() -> None:
    """Make the C API symbols of the native module global in this process,
    so that shared objects loaded afterwards bind to them (even ones linked
    against librtr: the first definition in the global scope wins)."""
    global _promoted
    if not _promoted:
        # Loading an already loaded object again with RTLD_GLOBAL promotes
        # it to the global symbol scope; it is not loaded twice.
        ctypes.CDLL(c_api_path(), mode=ctypes.RTLD_GLOBAL)
        _promoted = True


def load_c_library(path: Union[str, "os.PathLike[str]"]) -> ctypes.CDLL:
    """Load a shared object that calls the RTR C API, bound to this
    process's node (see the module documentation). Its functions release the
    GIL while they run (ctypes.CDLL), so C server loops can run on threads."""
    expose_c_api()
    return ctypes.CDLL(os.fspath(path))
