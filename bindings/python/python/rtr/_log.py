"""Where the library's diagnostics go: :func:`set_log_handler`.

The library (the process-wide node, its journal, links, a node daemon's
socket) reports what it cannot tell through a status: a journal it cannot
open, a node stopping, a link down. A Python program gets those through the
``logging`` module by default, as records of the ``"rtr"`` logger (with no
logging configuration, Python prints warnings and errors to stderr).
"""

from __future__ import annotations

import atexit
import logging
from typing import Callable, Optional

from . import _rtr

#: The logger the library's diagnostics go to unless another handler is set.
logger = logging.getLogger("rtr")

#: A log handler: called with the level (as the ``logging`` module numbers
#: them: ``logging.ERROR``, ``WARNING``, ``INFO``, ``DEBUG``) and the text.
LogHandler = Callable[[int, str], object]


def _to_logger(level: int, message: str) -> None:
    logger.log(level, message)


def set_log_handler(handler: Optional[LogHandler]) -> None:
    """Send the library's diagnostics to ``handler(level, message)``.

    ``level`` is a ``logging`` level number (``logging.ERROR`` ...
    ``logging.DEBUG``); ``message`` is one line of text. The handler is
    called on a library thread (one at a time, in order), shortly after the
    message: keep it short and do not call RTR from it. An exception it
    raises is printed, as one in a thread would be.

    The default sends them to the ``logging`` module's ``"rtr"`` logger;
    ``set_log_handler(None)`` sends them to standard error instead, as the
    C library does without ``rtr_set_log_callback``. A message that cannot
    reach the handler (while the interpreter shuts down) goes to standard
    error.
    """
    if handler is not None and not callable(handler):
        raise TypeError("the log handler must be callable (or None)")
    _rtr.set_log_handler(handler)


def log_to_logging() -> None:
    """Restore the default: the ``logging`` module's ``"rtr"`` logger."""
    _rtr.set_log_handler(_to_logger)


log_to_logging()

# Before the interpreter finalizes, the library stops calling Python (its
# threads may still log while the node shuts down at exit: to stderr then).
atexit.register(_rtr._close_log_relay)
