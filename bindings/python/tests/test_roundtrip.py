"""Client and server in one process (threads), through the faithful calls and the helpers."""

from __future__ import annotations

import threading

import pytest
from _support import key, unsigned_range

import rtr

FAC = "PYTEST_RT"


def test_faithful_calls_round_trip(conn: rtr.Connection) -> None:
    """The C call sequence, one for one: open both, wait for OPENED, send with
    accept, the server receives MSG1 and replies, both see ACCEPTED."""
    srv = conn.open_channel(rtr.OpenFlag.SERVER, FAC, keys=[unsigned_range(0, 99)])
    cli = conn.open_channel(rtr.OpenFlag.CLIENT, FAC)
    for ch in (srv, cli):
        m = conn.receive_message(ch, timeout=5)
        assert m.msgtype == rtr.MsgType.OPENED
        assert m.status == rtr.Status.OK and m.reason == 0
        assert len(m.data) == 8

    conn.start_tx(cli, timeout_ms=5000)
    tid = conn.get_tid(cli)
    assert tid and len(tid.words) == 7
    conn.send_to_server(cli, key(7, b"ping"))

    m = conn.receive_message(srv, timeout=5)
    assert m.msgtype == rtr.MsgType.MSG1
    assert m.data == key(7, b"ping")
    assert m.tid == tid and str(m.tid) == str(tid)
    assert conn.get_tid(srv) == tid
    conn.reply_to_client(srv, b"pong")

    m = conn.receive_message(cli, timeout=5)
    assert (m.msgtype, m.data, m.tid) == (rtr.MsgType.REPLY, b"pong", tid)
    assert m.status is None and m.reason is None
    conn.accept_tx(cli)

    # The server's next receive is its implicit accept.
    m = conn.receive_message(srv, timeout=5)
    assert (m.msgtype, m.status, m.tid) == (rtr.MsgType.ACCEPTED, rtr.Status.OK, tid)
    m = conn.receive_message(cli, timeout=5)
    assert (m.msgtype, m.status, m.tid) == (rtr.MsgType.ACCEPTED, rtr.Status.OK, tid)
    with pytest.raises(rtr.WrongState):
        conn.get_tid(cli)
    conn.close_channel(cli)
    conn.close_channel(srv)


def test_helpers_with_server_thread(conn: rtr.Connection, server_thread) -> None:  # type: ignore[no-untyped-def]
    with conn.open_server(FAC, unsigned_range(0, 999)) as srv:
        s = server_thread(srv, lambda m: b"echo:" + m.data[4:])
        with conn.open_client(FAC) as ch:
            for i in range(20):
                with ch.transaction(timeout_ms=5000) as tx:
                    tx.send(key(i, b"n%d" % i))
                    reply = tx.receive(timeout=5)
                    assert reply is not None and reply.data == b"echo:n%d" % i
                assert tx.accepted and tx.outcome is not None
                assert tx.outcome.tid == tx.tid
        stats = s.join()
    assert (stats.messages, stats.accepted, stats.rejected) == (20, 20, 0)


def test_process_wide_connection_and_module_functions(server_thread) -> None:  # type: ignore[no-untyped-def]
    """Module functions use the process-wide node (journal under $RTR_JOURNAL_DIR)."""
    import os

    conn = rtr.process_connection()
    assert rtr.Connection()._native is not None
    srv = conn.open_server("PYTEST_GLOBAL", unsigned_range(0, 9))
    s = server_thread(srv, lambda m: m.data[4:].upper())
    cli = rtr.open_channel(rtr.OpenFlag.CLIENT, "PYTEST_GLOBAL")
    assert rtr.receive_message(cli, 5).msgtype == rtr.MsgType.OPENED
    rtr.set_user_handle(cli, 0xDEADBEEF)
    assert rtr.get_user_handle(cli) == 0xDEADBEEF
    rtr.start_tx(cli)
    tid = rtr.get_tid(cli)
    rtr.send_to_server(cli, key(3, b"abc"), flags=rtr.SendFlag.ACCEPT)
    got = [rtr.receive_message(cli, 5) for _ in range(2)]
    assert [m.msgtype for m in got] == [rtr.MsgType.REPLY, rtr.MsgType.ACCEPTED]
    assert got[0].data == b"ABC"
    assert all(m.usrhdl == 0xDEADBEEF and m.tid == tid for m in got)
    rtr.close_channel(cli)
    s.join()
    srv.close()
    # The journal went where the environment said, not to ./rtr-journal.
    assert os.path.isdir(os.environ["RTR_JOURNAL_DIR"])
    assert not os.path.exists("rtr-journal")


def test_connect_is_another_process(conn: rtr.Connection) -> None:
    """A second connection to the node is like a second process: its channel
    ids are its own, and dropping it is that process exiting (a server's
    transaction in progress goes to the next server that opens)."""
    import gc

    other = conn.connect()
    srv = other.open_server(FAC, unsigned_range(0, 9), flags=rtr.OpenFlag.EXPLICIT_ACCEPT)
    extra = other.open_client(FAC)
    cli = conn.open_client(FAC)
    # Channel ids are per connection: `conn` has channel 1 only.
    assert (srv.id, extra.id, cli.id) == (1, 2, 1)
    with pytest.raises(rtr.InvalidChannel):
        conn.get_user_handle(extra.id)
    cli.send(key(1, b"x"), accept=True)
    first = srv.receive(5)
    assert first.msgtype == rtr.MsgType.MSG1
    # The server "process" exits before voting.
    del srv, extra, other
    gc.collect()
    # The transaction is held for the next server, which gets it again.
    third = conn.connect()
    with third.open_server(FAC, unsigned_range(0, 9)) as again:
        m = again.receive(5)
        assert m.msgtype in (rtr.MsgType.MSG1, rtr.MsgType.MSG1_UNCERTAIN)
        assert (m.tid, m.data) == (first.tid, key(1, b"x"))
        again.reply(b"done", accept=True)
        got = [cli.receive(5) for _ in range(2)]
        assert [g.msgtype for g in got] == [rtr.MsgType.REPLY, rtr.MsgType.ACCEPTED]


def test_receive_over_several_channels_and_messages_iterator(conn: rtr.Connection) -> None:
    a = conn.open_client(FAC)
    b = conn.open_client(FAC)
    srv = conn.open_server(FAC, unsigned_range(0, 9))
    a.send(key(1, b"a"), accept=True)
    b.send(key(2, b"b"), accept=True)
    seen = []
    for m in conn.messages(srv, timeout=0.5):
        if m.is_data:
            seen.append(m.data[4:])
    assert sorted(seen) == [b"a", b"b"]
    outcomes = {m.channel: m.msgtype for m in conn.messages([a, b], timeout=0.5)}
    assert outcomes == {a.id: rtr.MsgType.ACCEPTED, b.id: rtr.MsgType.ACCEPTED}
    # Nothing left: a poll times out.
    with pytest.raises(rtr.Timeout) as ei:
        conn.receive_message([a, b, srv], timeout=0)
    assert ei.value.status == rtr.Status.TIMOUT


def test_user_handle_and_tid_values(conn: rtr.Connection) -> None:
    ch = conn.open_client(FAC)
    assert ch.user_handle == 0
    ch.user_handle = 2**64 - 1
    assert ch.user_handle == 2**64 - 1
    ch.start_tx()
    t = ch.tid
    assert rtr.Tid(list(t.words)) == t and hash(rtr.Tid(list(t.words))) == hash(t)
    assert str(t) == ",".join("%x" % w for w in t.words)
    assert repr(t) == f"Tid('{t}')"
    assert (t.node, t.incarnation, t.conn) == t.words[:3]
    assert t.seq == (t.words[3] << 32) | t.words[4]
    assert not rtr.Tid([0] * 7)
    ch.reject()
    m = ch.receive(5)
    assert m.msgtype == rtr.MsgType.REJECTED


def test_threads_share_a_connection(conn: rtr.Connection, server_thread) -> None:  # type: ignore[no-untyped-def]
    """Several client threads, one channel each, against a pool of server channels."""
    servers = [conn.open_server(FAC, unsigned_range(0, 999)) for _ in range(3)]
    s = server_thread(servers, lambda m: m.data[4:])
    errors: list = []
    counts = [0] * 4

    def client(n: int) -> None:
        try:
            with conn.open_client(FAC) as ch:
                for i in range(25):
                    with ch.transaction() as tx:
                        tx.send(key(i, b"%d/%d" % (n, i)))
                        r = tx.receive(5)
                        assert r is not None and r.data == b"%d/%d" % (n, i)
                    counts[n] += 1
        except BaseException as e:
            errors.append(e)

    ts = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    assert not errors, errors
    assert counts == [25] * 4
    stats = s.join()
    assert stats.accepted == 100


def test_a_server_channel_reports_its_fencing_token(conn: rtr.Connection) -> None:
    """``rtr_get_fence``: 0 before any transaction message, then the grant
    epoch the key range was held under (1: the one node's first grant);
    a client channel has none."""
    srv = conn.open_channel(rtr.OpenFlag.SERVER, FAC + "_F", keys=[unsigned_range(0, 99)])
    cli = conn.open_channel(rtr.OpenFlag.CLIENT, FAC + "_F")
    for ch in (srv, cli):
        assert conn.receive_message(ch, timeout=5).msgtype == rtr.MsgType.OPENED
    assert conn.get_fence(srv) == 0
    with pytest.raises(rtr.WrongState):
        conn.get_fence(cli)
    conn.send_to_server(cli, key(7, b"ping"), flags=rtr.SendFlag.ACCEPT)
    m = conn.receive_message(srv, timeout=5)
    assert m.msgtype == rtr.MsgType.MSG1
    assert conn.get_fence(srv) == 1
    m = conn.receive_message(srv, timeout=5)
    assert m.msgtype == rtr.MsgType.ACCEPTED
    assert conn.get_fence(srv) == 1
    assert conn.receive_message(cli, timeout=5).msgtype == rtr.MsgType.ACCEPTED
    conn.close_channel(cli)
    conn.close_channel(srv)


def test_a_stopped_serve_loop_waits_for_the_outcome_of_what_it_holds(conn: rtr.Connection) -> None:
    """``stop`` set while a transaction is in hand (here by the handler
    itself, so the timing is fixed): the loop still receives its outcome
    before it returns. It returned at once, and a client that had heard
    "accepted" found the server's count one short (CI, under load)."""
    srv = conn.open_server(FAC, unsigned_range(0, 99))
    stop = threading.Event()

    def handler(m: rtr.Message) -> bytes:
        stop.set()
        return b"done"

    result: list = []
    t = threading.Thread(target=lambda: result.append(rtr.serve(srv, handler, stop=stop)), daemon=True)
    t.start()
    with conn.open_client(FAC) as cli:
        # Bounded: without the wait, the loop never voted (its next receive
        # is the vote) and the transaction would wait for ever.
        with cli.transaction(timeout_ms=10000, outcome_timeout=15) as tx:
            tx.send(key(3, b"x"))
            r = tx.receive(5)
            assert r is not None and r.data == b"done"
    t.join(10)
    assert not t.is_alive(), "serve did not return"
    assert result[0].accepted == 1, result
