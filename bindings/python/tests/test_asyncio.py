"""rtr.asyncio: awaitable receives, transactions and serve on one event loop."""

from __future__ import annotations

import asyncio
import select
import threading
import time
from typing import Any, Awaitable, Callable, List, TypeVar

import pytest
from _support import key, unsigned_range

import rtr
import rtr.asyncio as ra

T = TypeVar("T")


def run(main: Callable[[], Awaitable[T]], timeout: float = 30) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(main(), timeout)

    return asyncio.run(bounded())


def test_a_transaction_and_serve_on_one_loop() -> None:
    async def main() -> None:
        async with ra.AsyncConnection(rtr.Connection.embedded()) as conn:
            srv = await conn.open_server("PYASYNC", unsigned_range(0, 99))

            async def handler(m: rtr.Message) -> bytes:
                await asyncio.sleep(0.01)  # the loop runs on meanwhile
                return b"re:" + m.data[4:]

            server = asyncio.create_task(ra.serve(srv, handler, max_transactions=1))
            cli = await conn.open_client("PYASYNC")
            async with cli.transaction(timeout_ms=5000) as tx:
                tx.send(key(1, b"hello"))
                reply = await tx.receive(timeout=5)
                assert reply is not None and reply.data == b"re:hello"
            assert tx.accepted and tx.outcome is not None
            stats = await server
            assert (stats.messages, stats.accepted) == (1, 1)
        assert conn.connection.closed

    run(main)


def test_many_concurrent_client_tasks_against_async_servers() -> None:
    clients, per_client = 24, 5

    async def main() -> None:
        conn = ra.AsyncConnection(rtr.Connection.embedded())
        servers = [await conn.open_server("PYASYNC_MANY", unsigned_range(lo, lo + 49)) for lo in (0, 50)]

        async def handler(m: rtr.Message) -> bytes:
            await asyncio.sleep(0)
            return m.data[::-1]

        serving = [asyncio.create_task(ra.serve(s, handler)) for s in servers]

        async def client(n: int) -> int:
            ch = await conn.open_client("PYASYNC_MANY")
            done = 0
            for i in range(per_client):
                payload = key((n * 7 + i) % 100, f"{n}:{i}".encode())
                async with ch.transaction(timeout_ms=10_000) as tx:
                    tx.send(payload)
                    reply = await tx.receive(timeout=10)
                    assert reply is not None and reply.data == payload[::-1]
                done += 1
            ch.close()
            return done

        results = await asyncio.gather(*(client(n) for n in range(clients)))
        assert results == [per_client] * clients
        for task in serving:
            task.cancel()
        stats = await asyncio.gather(*serving, return_exceptions=True)
        assert all(isinstance(s, asyncio.CancelledError) for s in stats)
        conn.close()

    run(main, timeout=60)


def test_a_receive_times_out_and_a_cancelled_one_loses_no_message() -> None:
    async def main() -> None:
        conn = ra.AsyncConnection(rtr.Connection.embedded())
        srv = await conn.open_server("PYASYNC_CANCEL", unsigned_range(0, 99))
        cli = await conn.open_client("PYASYNC_CANCEL")
        start = time.monotonic()
        with pytest.raises(rtr.Timeout):
            await srv.receive(0.2)
        # Not before its time; the upper bound only catches a receive that
        # never times out (the machine is shared: no tight speed bounds).
        assert 0.15 < time.monotonic() - start < 10

        # Cancelled while nothing came: the next receive gets the message.
        waiting = asyncio.create_task(srv.receive())
        await asyncio.sleep(0.05)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        cli.send(key(1, b"one"))
        assert (await srv.receive(5)).data == key(1, b"one")

        # Cancelled after the message was taken for it, before it ran: the
        # message goes to the next receive on the channel.
        waiting = asyncio.create_task(srv.receive())
        await asyncio.sleep(0.05)  # it waits now
        srv.reply(b"r")
        assert (await cli.receive(5)).data == b"r"
        cli.send(key(1, b"two"))
        select.select([conn.connection.wakeup_fd()], [], [], 5)
        conn._on_readable()  # the loop's reader callback, run now: the message is taken for `waiting`
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert (await srv.receive(0.5)).data == key(1, b"two")
        conn.close()

    run(main)


def test_messages_nobody_receives_do_not_make_the_loop_spin() -> None:
    async def main() -> None:
        conn = ra.AsyncConnection(rtr.Connection.embedded())
        srv = await conn.open_server("PYASYNC_STALL", unsigned_range(0, 99))
        cli = await conn.open_client("PYASYNC_STALL")
        other = await conn.open_client("PYASYNC_STALL", events=[rtr.EvtNum.USERDEF, 3])
        calls = 0
        real = conn._on_readable

        def counting() -> None:
            nonlocal calls
            calls += 1
            real()

        conn._on_readable = counting  # type: ignore[method-assign]
        cli.send(key(1))  # waits on srv, which no task receives from now
        with pytest.raises(rtr.Timeout):
            await other.receive(0.5)
        # One look when it arrived, not one at every turn of the loop.
        assert 1 <= calls <= 3, calls
        # A message for a waiting task still comes through at once.
        threading.Timer(0.1, lambda: srv.broadcast_event(b"evt", evtnum=3)).start()
        start = time.monotonic()
        m = await other.receive(60)
        assert (m.msgtype, m.evtnum, m.data) == (rtr.MsgType.USER_EVENT, 3, b"evt")
        # Woken by the message, not by the receive's 60 s timeout (a loose
        # bound: the machine is shared).
        assert time.monotonic() - start < 20
        assert (await srv.receive(1)).is_data
        conn.close()

    run(main)


def test_a_handler_exception_rejects_and_the_client_gets_rejected() -> None:
    async def main() -> None:
        conn = ra.AsyncConnection(rtr.Connection.embedded())
        srv = await conn.open_server("PYASYNC_REJ", unsigned_range(0, 99))

        class Refused(Exception):
            reason = 42

        async def handler(m: rtr.Message) -> None:
            raise Refused()

        server = asyncio.create_task(ra.serve(srv, handler, max_transactions=1))
        cli = await conn.open_client("PYASYNC_REJ")
        with pytest.raises(rtr.Rejected) as e:
            async with cli.transaction() as tx:
                tx.send(key(5))
                await tx.receive(5)
        assert e.value.reason == 42 and e.value.status is rtr.Status.REJECTED
        stats = await server
        assert (stats.handler_errors, stats.rejected) == (1, 1)
        conn.close()

    run(main)


def test_leaving_a_transaction_on_an_exception_rejects_it() -> None:
    async def main() -> None:
        conn = ra.AsyncConnection(rtr.Connection.embedded())
        srv = await conn.open_server("PYASYNC_EXC", unsigned_range(0, 99))
        cli = await conn.open_client("PYASYNC_EXC")
        with pytest.raises(KeyError):
            async with cli.transaction() as tx:
                tx.send(key(5))
                assert (await srv.receive(5)).is_data
                raise KeyError("boom")
        assert tx.outcome is not None and tx.outcome.msgtype == rtr.MsgType.REJECTED
        assert (await srv.receive(5)).msgtype == rtr.MsgType.REJECTED
        conn.close()

    run(main)


def test_prepare_then_commit() -> None:
    async def main() -> None:
        conn = ra.AsyncConnection(rtr.Connection.embedded())
        srv = await conn.open_server("PYASYNC_PREP", unsigned_range(0, 99), flags=rtr.OpenFlag.EXPLICIT_PREPARE)
        server = asyncio.create_task(ra.serve(srv, lambda m: None, max_transactions=1))
        cli = await conn.open_client("PYASYNC_PREP")
        async with cli.transaction() as tx:
            tx.send(key(1))
            prepared = await tx.prepare(reason=7, timeout=5)
            assert prepared.msgtype == rtr.MsgType.PREPARED and prepared.reason == 7
        assert tx.accepted
        assert (await server).accepted == 1
        conn.close()

    run(main)


def test_closing_fails_the_receives_still_awaited() -> None:
    async def main() -> None:
        conn = ra.AsyncConnection(rtr.Connection.embedded())
        srv = await conn.open_server("PYASYNC_CLOSE", unsigned_range(0, 99))
        waiting = asyncio.create_task(srv.receive())
        await asyncio.sleep(0.05)
        conn.close()
        with pytest.raises(rtr.InvalidChannel):
            await waiting

    run(main)


def test_bad_arguments_raise_the_rtr_error() -> None:
    async def main() -> None:
        conn = ra.AsyncConnection(rtr.Connection.embedded())
        srv = await conn.open_server("PYASYNC_BAD", unsigned_range(0, 99))
        for bad in (-1, float("nan"), -float("inf")):
            with pytest.raises(rtr.InvalidArgument) as e:
                await srv.receive(bad)
            assert e.value.status is rtr.Status.INVTIMOUTMS
        # Even when a message waits: a bad timeout is refused, the message stays.
        cli = await conn.open_client("PYASYNC_BAD")
        cli.send(key(1))
        await asyncio.sleep(0.1)
        with pytest.raises(rtr.InvalidArgument):
            await srv.receive(-1)
        assert (await srv.receive(5)).is_data
        with pytest.raises(rtr.InvalidChannel):
            await conn.receive_message(999, 0.1)
        with pytest.raises(TypeError):
            await conn.receive_message("1", 0.1)  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            await ra.serve([], lambda m: None)
        with pytest.raises(rtr.InvalidArgument) as e:
            await conn.open_server("9BAD", unsigned_range(0, 99))
        assert e.value.status is rtr.Status.INVFACNAM
        conn.close()

    run(main)


def test_a_connection_has_one_async_connection() -> None:
    conn = rtr.Connection.embedded()
    first = ra.AsyncConnection(conn)
    with pytest.raises(RuntimeError, match="already has an AsyncConnection"):
        ra.AsyncConnection(conn)
    del first
    import gc

    gc.collect()
    ra.AsyncConnection(conn).close()  # the first one is gone: allowed


@pytest.mark.parametrize("shared", [False, True], ids=["own connection", "shared connection"])
def test_a_sync_server_thread_and_async_clients(shared: bool) -> None:
    """The blocking API on a thread and the asyncio one on the loop, on one
    connection or two. Shared, the server's messages wait on the same
    connection, for the thread: the loop must still learn of its own at
    once (the wakeup descriptor would stay readable for the server's)."""
    node = rtr.Connection.embedded()
    srv = node.open_server("PYASYNC_MIX", unsigned_range(0, 99))
    stop = threading.Event()
    t = threading.Thread(target=rtr.serve, args=(srv, lambda m: m.data), kwargs={"stop": stop}, daemon=True)
    t.start()

    async def main() -> List[Any]:
        conn = ra.AsyncConnection(node if shared else node.connect())

        async def one(n: int) -> bytes:
            async with await conn.open_client("PYASYNC_MIX") as ch:
                async with ch.transaction() as tx:
                    tx.send(key(n))
                    r = await tx.receive(5)
                    assert r is not None
                    return r.data

        try:
            out = list(await asyncio.gather(*(one(n) for n in range(10))))
            # 100 more, one after the other. A wakeup the loop missed has no
            # poll to fall back on: that reply would never be awaited, and
            # its receive would time out (None, asserted above). No bound on
            # the elapsed time: the machine is shared (one run took 2.5 s
            # under load against a 2 s bound), and speed is for benchmarks.
            for n in range(100):
                assert await one(n % 100) == key(n % 100)
            return out
        finally:
            if not shared:
                conn.close()

    try:
        assert run(main) == [key(n) for n in range(10)]
    finally:
        stop.set()
        t.join(5)
