"""rtr_set_wakeup from Python: a callback for programs with their own loop."""

from __future__ import annotations

import threading

import pytest
from _support import key, unsigned_range

import rtr

FAC = "PYTEST_WAKEUP"


def test_the_wakeup_routine_is_called_when_a_message_arrives(conn: rtr.Connection) -> None:
    srv = conn.open_server(FAC, unsigned_range(0, 99))
    cli = conn.open_client(FAC)
    rang = threading.Event()
    calls: list[str] = []

    def wakeup() -> None:
        calls.append(threading.current_thread().name)
        rang.set()

    conn.set_wakeup(wakeup)
    cli.send(key(1), accept=True)
    assert rang.wait(5), "the wakeup routine was not called"
    assert calls[0] != threading.main_thread().name
    assert srv.receive(0).msgtype == rtr.MsgType.MSG1
    # Removed: no more calls.
    conn.set_wakeup(None)
    rang.clear()
    srv.receive(5)  # implicit accept; outcomes arrive
    assert not rang.wait(0.3)


def test_a_wakeup_routine_must_be_callable(conn: rtr.Connection) -> None:
    with pytest.raises(TypeError):
        conn.set_wakeup(42)  # type: ignore[arg-type]
