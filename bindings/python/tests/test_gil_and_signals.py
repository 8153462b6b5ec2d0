"""A blocking receive releases the GIL, and Ctrl-C interrupts it."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from _support import unsigned_range

import rtr


def test_receive_releases_the_gil(conn: rtr.Connection) -> None:
    """While the main thread waits 1 s in receive, a pure-Python thread runs freely."""
    ch = conn.open_server("PYTEST_GIL", unsigned_range(0, 9))
    counter = [0]
    done = threading.Event()

    def spin() -> None:
        while not done.is_set():
            counter[0] += 1

    t = threading.Thread(target=spin)
    t.start()
    try:
        start = time.monotonic()
        with pytest.raises(rtr.Timeout):
            ch.receive(1.0)
        waited = time.monotonic() - start
    finally:
        done.set()
        t.join()
    assert 0.9 <= waited < 3.0
    # With the GIL held for the whole second, the thread would barely have
    # run (only at the poll-interval wake-ups).
    assert counter[0] > 100_000, counter[0]


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals go to the main thread")
def test_ctrl_c_interrupts_an_endless_receive(conn: rtr.Connection) -> None:
    ch = conn.open_server("PYTEST_SIG", unsigned_range(0, 9))
    timer = threading.Timer(0.3, os.kill, args=(os.getpid(), signal.SIGINT))
    start = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            ch.receive(None)  # for ever
    finally:
        timer.cancel()
    elapsed = time.monotonic() - start
    # Interrupted within the poll interval of the signal.
    assert elapsed < 0.3 + rtr._rtr.POLL_INTERVAL + 0.5, elapsed
    # The channel is still usable afterwards.
    with pytest.raises(rtr.Timeout):
        ch.receive(0)


def test_signal_handler_exception_propagates(conn: rtr.Connection) -> None:
    """Any exception from a Python signal handler ends the receive (not only KeyboardInterrupt)."""

    class Stop(Exception):
        pass

    def handler(signum, frame):  # type: ignore[no-untyped-def]
        raise Stop()

    ch = conn.open_server("PYTEST_SIG2", unsigned_range(0, 9))
    old = signal.signal(signal.SIGUSR1, handler)
    timer = threading.Timer(0.2, os.kill, args=(os.getpid(), signal.SIGUSR1))
    timer.start()
    try:
        with pytest.raises(Stop):
            ch.receive(30)
    finally:
        timer.cancel()
        signal.signal(signal.SIGUSR1, old)
