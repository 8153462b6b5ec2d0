"""Every voting mode, seen from Python: the server's flags, the client's ways
to accept, rejects with reasons, and the transaction context manager."""

from __future__ import annotations

import pytest
from _support import key, unsigned_range

import rtr

FAC = "PYTEST_VOTE"
M = rtr.MsgType


def opened_pair(conn: rtr.Connection, flags: int = 0):  # type: ignore[no-untyped-def]
    srv = conn.open_server(FAC, unsigned_range(0, 99), flags=flags)
    cli = conn.open_client(FAC)
    return srv, cli


def outcome(ch: rtr.Channel) -> rtr.Message:
    m = ch.receive(5)
    assert m.msgtype in (M.ACCEPTED, M.REJECTED), m
    return m


def test_implicit_accept_by_receiving_again(conn: rtr.Connection) -> None:
    srv, cli = opened_pair(conn)
    cli.send(key(1), accept=True)
    assert srv.receive(5).msgtype == M.MSG1
    # No vote call: the next receive accepts; no PREPARE is shown.
    assert outcome(srv).msgtype == M.ACCEPTED
    assert outcome(cli).msgtype == M.ACCEPTED


def test_explicit_prepare_delivers_prepare(conn: rtr.Connection) -> None:
    srv, cli = opened_pair(conn, rtr.OpenFlag.EXPLICIT_PREPARE)
    cli.send(key(1))
    first = srv.receive(5)
    assert first.msgtype == M.MSG1
    cli.accept(reason=7)
    prep = srv.receive(5)
    assert (prep.msgtype, prep.tid, prep.data) == (M.PREPARE, first.tid, b"")
    srv.accept()
    for ch in (srv, cli):
        m = outcome(ch)
        assert (m.msgtype, m.status, m.reason) == (M.ACCEPTED, rtr.Status.OK, 7)


def test_explicit_prepare_no_prepare_when_voted_early(conn: rtr.Connection) -> None:
    srv, cli = opened_pair(conn, rtr.OpenFlag.EXPLICIT_PREPARE)
    cli.send(key(1))
    assert srv.receive(5).msgtype == M.MSG1
    srv.reply(b"r", accept=True)  # votes before the prepare
    cli.accept()
    assert srv.receive(5).msgtype == M.ACCEPTED
    assert [cli.receive(5).msgtype for _ in range(2)] == [M.REPLY, M.ACCEPTED]


def test_explicit_accept_waits_for_the_servers_vote(conn: rtr.Connection) -> None:
    srv, cli = opened_pair(conn, rtr.OpenFlag.EXPLICIT_ACCEPT)
    cli.send(key(1), accept=True)
    assert srv.receive(5).msgtype == M.MSG1
    # Receiving again is no vote here: nothing happens until accept_tx.
    with pytest.raises(rtr.Timeout):
        srv.receive(0.3)
    with pytest.raises(rtr.Timeout):
        cli.receive(0.1)
    srv.accept()
    assert outcome(srv).msgtype == M.ACCEPTED
    assert outcome(cli).msgtype == M.ACCEPTED


def test_server_reject_reason_reaches_everyone(conn: rtr.Connection) -> None:
    srv, cli = opened_pair(conn)
    cli.send(key(1))
    assert srv.receive(5).msgtype == M.MSG1
    srv.reject(reason=42)
    for ch in (srv, cli):
        m = outcome(ch)
        assert (m.msgtype, m.status, m.reason) == (M.REJECTED, rtr.Status.REJECTED, 42)


def test_client_reject(conn: rtr.Connection) -> None:
    srv, cli = opened_pair(conn)
    cli.send(key(2))
    assert srv.receive(5).msgtype == M.MSG1
    cli.reject(reason=9)
    for ch in (srv, cli):
        m = outcome(ch)
        assert (m.msgtype, m.status, m.reason) == (M.REJECTED, rtr.Status.REJECTED, 9)


def test_no_destination(conn: rtr.Connection) -> None:
    _srv, cli = opened_pair(conn)
    cli.send(key(500), accept=True)
    m = outcome(cli)
    assert (m.msgtype, m.status) == (M.REJECTED, rtr.Status.NODSTFND)


def test_transaction_timeout(conn: rtr.Connection) -> None:
    srv, cli = opened_pair(conn, rtr.OpenFlag.EXPLICIT_ACCEPT)
    with pytest.raises(rtr.Rejected) as ei:
        with cli.transaction(timeout_ms=200) as tx:
            tx.send(key(1), accept=True)
            assert srv.receive(5).msgtype == M.MSG1  # and never votes
    assert ei.value.status == rtr.Status.TIMOUT
    assert ei.value.name == "RTR_STS_TIMOUT"
    assert isinstance(ei.value, rtr.RtrError)
    assert outcome(srv).status == rtr.Status.TIMOUT


def test_transaction_manager_rejects_on_exception(conn: rtr.Connection) -> None:
    srv, cli = opened_pair(conn)
    with pytest.raises(KeyError):
        with cli.transaction() as tx:
            tx.send(key(1))
            assert srv.receive(5).msgtype == M.MSG1
            raise KeyError("application error")
    assert tx.outcome is not None and not tx.accepted
    assert tx.outcome.status == rtr.Status.REJECTED
    assert outcome(srv).msgtype == M.REJECTED


def test_transaction_manager_raises_rejected_with_reason(conn: rtr.Connection, server_thread) -> None:  # type: ignore[no-untyped-def]
    class Refused(Exception):
        reason = 77

    def handler(m: rtr.Message) -> bytes:
        if m.data[4:] == b"bad":
            raise Refused()
        return b"ok"

    srv, cli = opened_pair(conn)
    s = server_thread(srv, handler)
    with cli.transaction() as tx:
        tx.send(key(1, b"good"))
        r = tx.receive(5)
        assert r is not None and r.data == b"ok"
    assert tx.accepted
    with pytest.raises(rtr.Rejected) as ei:
        with cli.transaction() as tx:
            tx.send(key(1, b"bad"))
            tx.receive(5)
    assert (ei.value.status, ei.value.reason) == (rtr.Status.REJECTED, 77)
    assert ei.value.outcome is not None and ei.value.outcome.tid == tx.tid
    stats = s.join()
    assert (stats.accepted, stats.rejected, stats.handler_errors) == (1, 1, 1)


def test_transaction_manager_deliberate_reject_raises_nothing(conn: rtr.Connection) -> None:
    srv, cli = opened_pair(conn)
    with cli.transaction() as tx:
        tx.send(key(1))
        assert srv.receive(5).msgtype == M.MSG1
        tx.reject(reason=5)
    assert not tx.accepted and tx.outcome is not None and tx.outcome.reason == 5


def test_serve_votes_for_explicit_flags(conn: rtr.Connection, server_thread) -> None:  # type: ignore[no-untyped-def]
    """serve() accepts on PREPARE (EXPLICIT_PREPARE) and after the handler
    (EXPLICIT_ACCEPT, with and without a reply)."""
    prep = conn.open_server("PYTEST_PREP", unsigned_range(0, 9), flags=rtr.OpenFlag.EXPLICIT_PREPARE)
    acc = conn.open_server("PYTEST_ACC", unsigned_range(0, 9), flags=rtr.OpenFlag.EXPLICIT_ACCEPT)
    s = server_thread([prep, acc], lambda m: None if m.data[4:] == b"quiet" else b"r")
    for fac in ("PYTEST_PREP", "PYTEST_ACC"):
        with conn.open_client(fac) as ch:
            for payload in (b"loud", b"quiet"):
                with ch.transaction(timeout_ms=5000) as tx:
                    tx.send(key(1, payload))
                assert tx.accepted
                assert [r.data for r in tx.late_replies] == ([b"r"] if payload == b"loud" else [])
    assert s.join().accepted == 4


def test_server_forget_releases_the_server_at_its_vote(conn: rtr.Connection) -> None:
    # One server with explicit accept: it takes the second transaction only
    # because RTR_F_ACC_FORGET released it from the first.
    srv = conn.open_server(FAC, unsigned_range(0, 99), flags=rtr.OpenFlag.EXPLICIT_ACCEPT)
    c1 = conn.open_client(FAC)
    c2 = conn.open_client(FAC)
    c1.send(key(1))
    first = srv.receive(5)
    assert first.msgtype == M.MSG1
    srv.accept(flags=rtr.AcceptFlag.FORGET)
    c2.send(key(2))
    second = srv.receive(5)
    assert (second.msgtype, second.tid != first.tid) == (M.MSG1, True)
    c1.accept()
    assert outcome(c1).msgtype == M.ACCEPTED
    # RTR_F_REP_FORGET: the reply casts the accept and forgets too.
    srv.reply(b"r", accept=True, flags=rtr.ReplyFlag.FORGET)
    c2.accept()
    assert [m.msgtype for m in (c2.receive(5), outcome(c2))] == [M.REPLY, M.ACCEPTED]
    # Neither outcome reaches the server.
    with pytest.raises(rtr.Timeout):
        srv.receive(0.3)
