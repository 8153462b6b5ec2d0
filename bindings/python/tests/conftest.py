"""Shared fixtures.

The process-wide node keeps its journal in $RTR_JOURNAL_DIR, read once when
it starts (the first ``rtr.Connection()``). It is set here, before any test
runs, to a temporary directory removed at the end, so the tests never write
``./rtr-journal``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Callable, Iterator, List

import pytest

_JOURNAL_TMP = tempfile.mkdtemp(prefix="rtr-pytest-journal-")
os.environ["RTR_JOURNAL_DIR"] = os.path.join(_JOURNAL_TMP, "journal")

import rtr  # noqa: E402  (after the environment is set)
from _support import ServerThread  # noqa: E402


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_JOURNAL_TMP, ignore_errors=True)


@pytest.fixture
def conn() -> Iterator[rtr.Connection]:
    """A connection to a fresh embedded node of its own (no journal)."""
    c = rtr.Connection.embedded()
    yield c


@pytest.fixture
def journal_env() -> str:
    return os.environ["RTR_JOURNAL_DIR"]


@pytest.fixture
def server_thread() -> Iterator[Callable[..., ServerThread]]:
    started: List[ServerThread] = []

    def start(channels, handler, **kw) -> ServerThread:  # type: ignore[no-untyped-def]
        s = ServerThread(channels, handler, **kw)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop.set()
