"""Broadcast events, RTR events and rtr_prepare_tx from Python."""

from __future__ import annotations

import threading

import pytest
from _support import key, unsigned_range

import rtr

M = rtr.MsgType
USERDEF, RTRDEF = -1, -2


def test_broadcasts_reach_subscribers_whose_names_match(conn: rtr.Connection) -> None:
    a = conn.open_server("PYEVT", unsigned_range(0, 99), recipient="srvA", events=[USERDEF, 1, -3, 10])
    b = conn.open_server("PYEVT", unsigned_range(100, 199), recipient="other", events=[USERDEF])
    cli = conn.open_client("PYEVT", events=[USERDEF, 20])
    conn.broadcast_event(cli, b"hi", evtnum=5, recipient="srv*")
    m = a.receive(5)
    assert (m.msgtype, m.evtnum, m.data) == (M.USER_EVENT, 5, b"hi")
    with pytest.raises(rtr.Timeout):
        b.receive(0.2)
    conn.broadcast_event(a, b"news", evtnum=20)
    m = cli.receive(5)
    assert (m.msgtype, m.evtnum, m.data) == (M.USER_EVENT, 20, b"news")
    with pytest.raises(rtr.RtrError) as e:
        conn.broadcast_event(cli, evtnum=251)
    assert e.value.status == rtr.Status.INVEVTNUM


# RTR event numbers as include/rtr.h gives them.
FACREADY, KEYRANGEGAIN, SRPRIMARY, SRRECOVERCMPL = 256, 266, 268, 273


def test_a_server_hears_it_became_primary(conn: rtr.Connection) -> None:
    srv = conn.open_server("PYEVT2", unsigned_range(0, 9), events=[RTRDEF])
    got = set()
    for _ in range(4):
        m = srv.receive(5)
        assert m.msgtype == M.RTR_EVENT and m.data == b"PYEVT2"
        got.add(m.evtnum)
    assert got == {FACREADY, KEYRANGEGAIN, SRPRIMARY, SRRECOVERCMPL}


def test_prepare_then_accept(conn: rtr.Connection) -> None:
    srv = conn.open_server("PYPREP", unsigned_range(0, 99), flags=rtr.OpenFlag.EXPLICIT_PREPARE)
    cli = conn.open_client("PYPREP")
    cli.send(key(1))
    assert srv.receive(5).msgtype == M.MSG1
    conn.prepare_tx(cli, reason=42, data=b"blob")
    assert srv.receive(5).msgtype == M.PREPARE
    srv.accept()
    m = cli.receive(5)
    assert m.msgtype == M.PREPARED and m.reason == 42
    cli.accept(reason=1)
    assert cli.receive(5).msgtype == M.ACCEPTED
    assert srv.receive(5).msgtype == M.ACCEPTED


def test_the_wakeup_descriptor_is_readable_while_a_message_waits(conn: rtr.Connection) -> None:
    import select

    srv = conn.open_server("PYWAKE", unsigned_range(0, 99))
    cli = conn.open_client("PYWAKE")
    fd = conn.wakeup_fd()
    assert select.select([fd], [], [], 0)[0] == []
    cli.send(key(1))
    assert select.select([fd], [], [], 5)[0] == [fd]
    assert srv.receive(0).msgtype == M.MSG1
    assert select.select([fd], [], [], 0)[0] == []


def test_no_broadcast_was_dropped_on_a_quiet_connection(conn: rtr.Connection) -> None:
    assert conn.events_dropped() == 0


def test_transaction_prepare_waits_for_the_votes_then_commits(conn: rtr.Connection, server_thread) -> None:  # type: ignore[no-untyped-def]
    srv = conn.open_server("PYPREP2", unsigned_range(0, 99), flags=rtr.OpenFlag.EXPLICIT_PREPARE)
    st = server_thread(srv, lambda m: b"r")
    cli = conn.open_client("PYPREP2")
    with cli.transaction() as tx:
        tx.send(key(1))
        assert tx.receive(5) is not None  # the reply
        prepared = tx.prepare(reason=5, data=b"branch", timeout=5)
        assert (prepared.msgtype, prepared.reason, prepared.tid) == (M.PREPARED, 5, tx.tid)
    assert tx.accepted
    assert st.join().accepted == 1


def test_transaction_prepare_raises_rejected_on_a_no_vote(conn: rtr.Connection) -> None:
    srv = conn.open_server("PYPREP3", unsigned_range(0, 99), flags=rtr.OpenFlag.EXPLICIT_PREPARE)
    cli = conn.open_client("PYPREP3")
    with pytest.raises(rtr.Rejected) as e:
        with cli.transaction() as tx:
            tx.send(key(1))
            assert srv.receive(5).is_data
            threading.Timer(0.1, lambda: (srv.receive(5), srv.reject(reason=11))).start()
            tx.prepare(timeout=5)
    assert e.value.reason == 11 and e.value.status is rtr.Status.REJECTED


def test_transaction_prepare_times_out(conn: rtr.Connection) -> None:
    conn.open_server("PYPREP4", unsigned_range(0, 99), flags=rtr.OpenFlag.EXPLICIT_PREPARE)
    cli = conn.open_client("PYPREP4")
    with pytest.raises(rtr.Timeout):
        with cli.transaction(outcome_timeout=5) as tx:
            tx.send(key(1))
            tx.prepare(timeout=0.2)  # the server never votes
