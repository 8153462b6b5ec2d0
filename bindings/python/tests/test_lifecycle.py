"""Connection.close() and with, timeouts of any length, and os.fork()."""

from __future__ import annotations

import math
import os
import select
import sys
import threading
import time

import pytest
from _support import key, unsigned_range

import rtr

FAC = "PYLIFE"


def test_with_closes_the_connection_and_its_channels() -> None:
    with rtr.Connection.embedded() as conn:
        watcher = conn.connect()
        srv = watcher.open_server(FAC, unsigned_range(0, 99))
        cli = conn.open_client(FAC)
        cli.send(key(1))
        assert srv.receive(5).is_data
        assert not conn.closed
    assert conn.closed
    # The client went away mid-transaction: the server hears it was rejected.
    m = srv.receive(5)
    assert m.msgtype == rtr.MsgType.REJECTED
    with pytest.raises(rtr.InvalidChannel, match="closed") as e:
        conn.open_client(FAC)
    assert e.value.status is rtr.Status.CHANCLOSED
    with pytest.raises(rtr.InvalidChannel):
        conn.receive_message(None, 0)
    with pytest.raises(rtr.InvalidChannel):
        conn.wakeup_fd()
    conn.close()  # twice: nothing
    assert "closed" in repr(conn)


def test_close_ends_a_receive_waiting_in_another_thread() -> None:
    conn = rtr.Connection.embedded()
    conn.open_server(FAC, unsigned_range(0, 99))
    got: list[BaseException] = []

    def wait() -> None:
        try:
            conn.receive_message(None, 30)
        except BaseException as e:  # noqa: BLE001
            got.append(e)

    t = threading.Thread(target=wait)
    t.start()
    time.sleep(0.2)
    start = time.monotonic()
    conn.close()
    t.join(5)
    assert not t.is_alive() and time.monotonic() - start < 2
    assert isinstance(got[0], rtr.InvalidChannel)


def test_closing_the_process_wide_connection_leaves_the_node_up() -> None:
    with rtr.Connection() as a:
        srv = a.open_server("PYLIFE_GLOBAL", unsigned_range(0, 99))
        sid = srv.id
    b = rtr.Connection()
    # a's channel was closed, the node and other connections stay.
    with pytest.raises(rtr.InvalidChannel):
        b.close_channel(sid)
    with b.open_server("PYLIFE_GLOBAL", unsigned_range(0, 99)) as srv2:
        with b.open_client("PYLIFE_GLOBAL") as cli:
            cli.send(key(1), accept=True)
            assert srv2.receive(5).is_data


def test_the_module_functions_get_a_new_connection_after_theirs_was_closed() -> None:
    first = rtr.process_connection()
    ch = rtr.open_channel(rtr.OpenFlag.CLIENT, "PYLIFE_MOD")
    first.close()
    with pytest.raises(rtr.InvalidChannel):
        first.close_channel(ch)
    second = rtr.process_connection()
    assert second is not first and not second.closed
    ch2 = rtr.open_channel(rtr.OpenFlag.CLIENT, "PYLIFE_MOD")
    assert rtr.receive_message(ch2, 5).msgtype == rtr.MsgType.OPENED
    rtr.close_channel(ch2)


def test_a_receive_with_an_infinite_or_huge_timeout_waits_for_the_message(conn: rtr.Connection) -> None:
    srv = conn.open_server(FAC, unsigned_range(0, 99))
    cli = conn.open_client(FAC)
    for timeout in (math.inf, 1e300, float(sys.maxsize)):
        threading.Timer(0.1, lambda: cli.send(key(1), accept=True)).start()
        assert srv.receive(timeout).is_data
        while srv.receive(5).msgtype != rtr.MsgType.ACCEPTED:
            pass
        while cli.receive(5).msgtype != rtr.MsgType.ACCEPTED:
            pass


@pytest.mark.parametrize("bad", [-math.inf, -1e-9, math.nan])
def test_a_negative_or_nan_timeout_is_refused(conn: rtr.Connection, bad: float) -> None:
    srv = conn.open_server(FAC, unsigned_range(0, 99))
    with pytest.raises(rtr.InvalidArgument, match=">= 0") as e:
        srv.receive(bad)
    assert e.value.status is rtr.Status.INVTIMOUTMS


def test_the_wakeup_fd_turns_unreadable_after_the_receive_of_a_vote_request(conn: rtr.Connection) -> None:
    """A vote request to a server without EXPLICIT_PREPARE makes the fd
    readable, though a receive returns nothing for it: the receive is the
    implicit accept. After that receive the fd is unreadable, and the
    transaction commits (documented on Connection.wakeup_fd)."""
    srv = conn.open_server(FAC, unsigned_range(0, 99))
    client_conn = conn.connect()
    cli = client_conn.open_client(FAC)
    fd = conn.wakeup_fd()
    cli.send(key(1), accept=True)
    assert select.select([fd], [], [], 5)[0] == [fd]
    assert srv.receive(0).is_data
    deadline = time.monotonic() + 5
    outcome = None
    empty = 0
    while outcome is None and time.monotonic() < deadline:
        if select.select([fd], [], [], 5)[0]:
            try:
                outcome = srv.receive(0)
            except rtr.Timeout:
                # The vote request, consumed (the outcome may be readable
                # at once after it: the receive just voted).
                empty += 1
    assert outcome is not None and outcome.msgtype == rtr.MsgType.ACCEPTED
    assert empty <= 1, "the fd was readable for nothing more than once"
    assert select.select([fd], [], [], 0)[0] == []
    assert cli.receive(5).msgtype == rtr.MsgType.ACCEPTED


def _in_child(body: str) -> tuple[int, str]:
    """Run ``body`` (a function of the connection ``conn``) in a forked child
    and return its exit status and what it wrote."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(r)
        code = 0
        try:
            out = eval(body)  # noqa: S307 - test code
        except BaseException as e:  # noqa: BLE001
            out = f"{type(e).__name__}: {e}"
            code = 1
        os.write(w, str(out).encode())
        os._exit(code)
    os.close(w)
    chunks = []
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        chunks.append(b)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
# Python 3.12+ warns about any fork of a process with threads (the node's):
# forking one is what this test is about.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_connection_used_after_fork_raises_a_clear_error(conn: rtr.Connection) -> None:
    srv = conn.open_server(FAC, unsigned_range(0, 99))
    global _FORK_CONN, _FORK_SRV, _FORK_EXTRA
    _FORK_CONN, _FORK_SRV = conn, srv
    # Only a global refers to this one: the child drops it (see _child_roundtrip).
    _FORK_EXTRA = rtr.Connection.embedded()
    code, out = _in_child("_FORK_SRV.receive(0.5)")
    assert code == 1, out
    assert out.startswith("NodeUnavailable") and "os.fork()" in out and str(os.getpid()) in out
    code, out = _in_child("_FORK_CONN.open_client('PYLIFE')")
    assert code == 1 and "os.fork()" in out, out
    # The process-wide connection (taken in this process) cannot be taken in a child.
    rtr.process_connection()
    code, out = _in_child("rtr.Connection()")
    assert code == 1 and "os.fork()" in out, out
    # A child opens a connection of its own, which works.
    code, out = _in_child("_child_roundtrip()")
    assert (code, out) == (0, "ok")
    # The parent's connection is unharmed (the child dropped its copy without a word).
    cli = conn.open_client(FAC)
    cli.send(key(1), accept=True)
    assert srv.receive(5).is_data


_FORK_CONN: rtr.Connection
_FORK_SRV: rtr.Channel
_FORK_EXTRA: rtr.Connection


def _child_roundtrip() -> str:
    # The inherited copy goes away (its last reference): it must neither
    # hang nor tell the parent's node anything.
    del globals()["_FORK_EXTRA"]
    with rtr.Connection.embedded() as c:
        s = c.open_server(FAC, unsigned_range(0, 99))
        k = c.open_client(FAC)
        k.send(key(1), accept=True)
        assert s.receive(5).is_data
    return "ok"
