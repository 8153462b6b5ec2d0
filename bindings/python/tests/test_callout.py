"""Call-out servers from Python: a router call-out and a backend call-out
see every message of the transactions and vote on them."""

from __future__ import annotations

from _support import key, unsigned_range

import rtr

FAC = "PYTEST_CALLOUT"
M = rtr.MsgType


def test_call_outs_see_every_message_and_a_reject_wins(conn: rtr.Connection) -> None:
    explicit = rtr.OpenFlag.EXPLICIT_ACCEPT
    srv = conn.open_server(FAC, unsigned_range(0, 99), flags=explicit)
    tr = conn.open_server(FAC, flags=rtr.OpenFlag.TR_CALL_OUT | explicit)
    be = conn.open_server(FAC, flags=rtr.OpenFlag.BE_CALL_OUT | explicit)
    cli = conn.open_client(FAC)
    cli.send(key(1), accept=True)
    for ch in (srv, tr, be):
        m = ch.receive(5)
        assert m.msgtype == M.MSG1
        assert m.data == key(1)
        ch.accept()
    for ch in (cli, srv, tr, be):
        assert ch.receive(5).msgtype == M.ACCEPTED
    # The backend call-out refuses the next one: rejected, with its reason.
    cli.send(key(2), accept=True)
    for ch in (srv, tr, be):
        assert ch.receive(5).msgtype == M.MSG1
    srv.accept()
    tr.accept()
    be.reject(reason=13)
    m = cli.receive(5)
    assert (m.msgtype, m.reason) == (M.REJECTED, 13)
