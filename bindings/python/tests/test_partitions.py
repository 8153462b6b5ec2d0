"""Routing by key to two partitions, and transactions that span both."""

from __future__ import annotations

import struct
import sys

import pytest
from _support import key, unsigned_range

import rtr

FAC = "PYTEST_PART"
M = rtr.MsgType


def test_messages_go_to_the_partition_of_their_key(conn: rtr.Connection, server_thread) -> None:  # type: ignore[no-untyped-def]
    low = conn.open_server(FAC, unsigned_range(0, 499))
    high = conn.open_server(FAC, unsigned_range(500, 999))
    sl = server_thread(low, lambda m: b"low")
    sh = server_thread(high, lambda m: b"high")
    with conn.open_client(FAC) as ch:
        for k, want in [(0, b"low"), (499, b"low"), (500, b"high"), (999, b"high"), (123, b"low")]:
            with ch.transaction() as tx:
                tx.send(key(k))
                r = tx.receive(5)
                assert r is not None and r.data == want, k
        with pytest.raises(rtr.Rejected) as ei:
            with ch.transaction() as tx:
                tx.send(key(1000))
        assert ei.value.status == rtr.Status.NODSTFND
    assert (sl.join().accepted, sh.join().accepted) == (3, 2)


def test_one_transaction_over_two_partitions(conn: rtr.Connection) -> None:
    """Two-phase commit over both partitions: both servers see the same
    tid and the same outcome; one reject aborts both."""
    low = conn.open_server(FAC, unsigned_range(0, 499), flags=rtr.OpenFlag.EXPLICIT_PREPARE)
    high = conn.open_server(FAC, unsigned_range(500, 999), flags=rtr.OpenFlag.EXPLICIT_PREPARE)
    cli = conn.open_client(FAC)
    for vote_high in ("accept", "reject"):
        cli.start_tx()
        tid = cli.tid
        cli.send(key(10, b"debit"))
        cli.send(key(900, b"credit"))
        a, b = low.receive(5), high.receive(5)
        assert (a.msgtype, b.msgtype) == (M.MSG1, M.MSG1)
        assert a.tid == b.tid == tid
        assert (a.data[4:], b.data[4:]) == (b"debit", b"credit")
        cli.accept()
        assert low.receive(5).msgtype == M.PREPARE
        assert high.receive(5).msgtype == M.PREPARE
        low.accept()
        if vote_high == "accept":
            high.accept()
            want = (M.ACCEPTED, rtr.Status.OK, 0)
        else:
            high.reject(reason=3)
            want = (M.REJECTED, rtr.Status.REJECTED, 3)
        for ch in (low, high, cli):
            m = ch.receive(5)
            assert (m.msgtype, m.status, m.reason) == want, (vote_high, ch)
            assert m.tid == tid


def test_signed_and_string_keys(conn: rtr.Connection, server_thread) -> None:  # type: ignore[no-untyped-def]
    neg = rtr.KeySegment(rtr.KeyType.SIGNED, length=2, offset=0, low=-1000, high=-1)
    pos = rtr.KeySegment(rtr.KeyType.SIGNED, length=2, offset=0, low=0, high=None)
    s1 = server_thread(conn.open_server("PYTEST_SIGNED", neg), lambda m: b"neg")
    s2 = server_thread(conn.open_server("PYTEST_SIGNED", pos), lambda m: b"pos")
    am = rtr.KeySegment(rtr.KeyType.STRING, length=3, offset=2, low="AAA", high="MZZ")
    nz = rtr.KeySegment(rtr.KeyType.STRING, length=3, offset=2, low=b"NAA", high=None)
    s3 = server_thread(conn.open_server("PYTEST_STR", [am]), lambda m: b"a-m")
    s4 = server_thread(conn.open_server("PYTEST_STR", [nz]), lambda m: b"n-z")
    with conn.open_client("PYTEST_SIGNED") as ch:
        for v, want in [(-1000, b"neg"), (-1, b"neg"), (0, b"pos"), (32767, b"pos")]:
            with ch.transaction() as tx:
                tx.send(struct.pack("=h", v))
                r = tx.receive(5)
                assert r is not None and r.data == want, v
        with pytest.raises(rtr.Rejected):
            with ch.transaction() as tx:
                tx.send(struct.pack("=h", -1001))
    with conn.open_client("PYTEST_STR") as ch:
        for name, want in [(b"ALF", b"a-m"), (b"MZZ", b"a-m"), (b"NED", b"n-z"), (b"ZOE", b"n-z")]:
            with ch.transaction() as tx:
                tx.send(b"--" + name + b"--")
                r = tx.receive(5)
                assert r is not None and r.data == want, name
    for s in (s1, s2, s3, s4):
        s.join()


def test_numeric_bounds_are_native_endian(conn: rtr.Connection) -> None:
    """An int bound is written as C has the integer in memory: a message
    built with the native byte order routes; the other order does not."""
    srv = conn.open_server(FAC, rtr.KeySegment(rtr.KeyType.UNSIGNED, 4, 0, low=1, high=1))
    cli = conn.open_client(FAC)
    other = "big" if sys.byteorder == "little" else "little"
    cli.send((1).to_bytes(4, other), accept=True)
    m = cli.receive(5)
    assert (m.msgtype, m.status) == (M.REJECTED, rtr.Status.NODSTFND)
    cli.send((1).to_bytes(4, sys.byteorder), accept=True)
    assert srv.receive(5).msgtype == M.MSG1
    assert srv.receive(5).msgtype == M.ACCEPTED


def test_a_named_partition_binds_its_name_to_one_key_range(conn: rtr.Connection) -> None:
    fac = "PYTEST_NAMED"
    a = conn.open_server(fac, unsigned_range(0, 99), partition="Accounts")
    b = conn.open_server(fac, unsigned_range(0, 99), partition="ACCOUNTS")  # the same one
    with pytest.raises(rtr.OpenRefused):
        conn.open_server(fac, unsigned_range(100, 199), partition="accounts")
    with pytest.raises(rtr.InvalidArgument):
        conn.open_server(fac, unsigned_range(100, 199), partition="9bad name")
    rows = conn.query_info("prt", "fac_name", fac, "prt_name")
    assert [r["prt_name"] for r in rows] == ["Accounts"]
    a.close()
    b.close()
