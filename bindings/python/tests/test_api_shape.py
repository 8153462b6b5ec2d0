"""The shape of the public API: keyword-only flags (with a TypeError that
says why for C's positional order), module functions that mirror
Connection, and annotations that typing.get_type_hints and mypy --strict
can use."""

from __future__ import annotations

import importlib.util
import inspect
import subprocess
import sys
import tempfile
import textwrap
import typing
from pathlib import Path
from typing import Any, Callable, Iterator, List, Tuple

import pytest
from _support import key, unsigned_range

import rtr
import rtr.asyncio

FAC = "PYSHAPE"


# ---------------------------------------------------------------- the trap


@pytest.fixture
def pair(conn: rtr.Connection) -> Iterator[Tuple[rtr.Connection, rtr.Channel, rtr.Channel]]:
    srv = conn.open_server(FAC, unsigned_range(0, 99))
    cli = conn.open_client(FAC)
    yield conn, srv, cli


OLD_FORMS: List[Tuple[str, Callable[[rtr.Connection, rtr.Channel, rtr.Channel], object]]] = [
    # The old Python order (channel, reason, flags): meaning changed silently.
    ("reject_tx(srv, 0, 1)", lambda c, s, k: c.reject_tx(s, 0, 1)),
    ("accept_tx(cli, 0, 1)", lambda c, s, k: c.accept_tx(k, 0, 1)),
    ("accept_tx(cli, 5)", lambda c, s, k: c.accept_tx(k, 5)),
    ("start_tx(cli, 5000)", lambda c, s, k: c.start_tx(k, 5000)),
    ("start_tx(cli, 5000, 0)", lambda c, s, k: c.start_tx(k, 5000, 0)),
    # C's order (channel, flags, ...), ported positionally.
    ("rtr_reject_tx(srv, RETRY, 0)", lambda c, s, k: c.reject_tx(s, rtr.RejectFlag.RETRY, 0)),
    ("rtr_close_channel(cli, 0)", lambda c, s, k: c.close_channel(k, 0)),
    ("rtr_get_tid(cli, 0)", lambda c, s, k: c.get_tid(k, 0)),
    ("rtr_prepare_tx(cli, 0, 42, data)", lambda c, s, k: c.prepare_tx(k, 0, 42, b"blob")),
    ("send_to_server(cli, data, ACCEPT)", lambda c, s, k: c.send_to_server(k, key(1), rtr.SendFlag.ACCEPT)),
    ("reply_to_client(srv, data, ACCEPT)", lambda c, s, k: c.reply_to_client(s, b"r", rtr.ReplyFlag.ACCEPT)),
    ("broadcast_event(cli, data, 5, rcp)", lambda c, s, k: c.broadcast_event(k, b"x", 5, "srv")),
    ("request_info(..., flags)", lambda c, s, k: c.request_info("prt", None, None, None, 0)),
    ("set_info(..., flags)", lambda c, s, k: c.set_info("verb_set", "rtr_partition_object", {}, {}, 0)),
    # The module functions, the same.
    ("rtr.reject_tx(srv, 0, 1)", lambda c, s, k: rtr.reject_tx(s, 0, 1)),
    ("rtr.accept_tx(cli, 0, 1)", lambda c, s, k: rtr.accept_tx(k, 0, 1)),
    ("rtr.start_tx(cli, 5000)", lambda c, s, k: rtr.start_tx(k, 5000)),
    ("rtr.close_channel(cli, 0)", lambda c, s, k: rtr.close_channel(k, 0)),
    ("rtr.prepare_tx(cli, 42)", lambda c, s, k: rtr.prepare_tx(k, 42)),
    # Channel methods: flags after their own positional arguments.
    ("ch.reject(0, 1)", lambda c, s, k: s.reject(0, 1)),
    ("ch.accept(0, 1)", lambda c, s, k: k.accept(0, 1)),
    ("ch.close(1)", lambda c, s, k: k.close(1)),
    ("ch.start_tx(5000, 0)", lambda c, s, k: k.start_tx(5000, 0)),
    # The asyncio channels, the same.
    ("async ch.reject(0, 1)", lambda c, s, k: _async(c, s).reject(0, 1)),
    ("async ch.accept(0, 1)", lambda c, s, k: _async(c, k).accept(0, 1)),
    ("async ch.close(1)", lambda c, s, k: _async(c, k).close(1)),
    ("async ch.start_tx(5000, 0)", lambda c, s, k: _async(c, k).start_tx(5000, 0)),
    ("async ch.prepare(42)", lambda c, s, k: _async(c, k).prepare(42)),
]


def _async(conn: rtr.Connection, ch: rtr.Channel) -> rtr.asyncio.AsyncChannel:
    """An AsyncChannel over ``ch``, without a loop (its sync calls need none)."""
    aconn = rtr.asyncio._OWNERS.get(conn)
    a = aconn() if aconn is not None else None
    return rtr.asyncio.AsyncChannel(a if a is not None else rtr.asyncio.AsyncConnection(conn), ch)


@pytest.mark.parametrize("form,call", OLD_FORMS, ids=[f for f, _ in OLD_FORMS])
def test_positional_flags_raise_a_typeerror_that_says_why(
    pair: Tuple[rtr.Connection, rtr.Channel, rtr.Channel], form: str, call: Callable[..., object]
) -> None:
    conn, srv, cli = pair
    cli.send(key(1))
    assert srv.receive(5).is_data
    with pytest.raises(TypeError, match="keyword-only"):
        call(conn, srv, cli)
    # Nothing happened: the transaction is still there to be committed.
    srv.reply(b"ok")
    assert cli.receive(5).data == b"ok"
    cli.accept()
    assert srv.receive(5).msgtype == rtr.MsgType.ACCEPTED  # the implicit vote, then the outcome
    assert cli.receive(5).msgtype == rtr.MsgType.ACCEPTED


def test_broadcast_event_with_the_event_number_in_the_place_of_data_says_why(
    pair: Tuple[rtr.Connection, rtr.Channel, rtr.Channel]
) -> None:
    conn, _srv, cli = pair
    with pytest.raises(TypeError, match="evtnum"):
        conn.broadcast_event(cli, 5, evtnum=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="evtnum"):
        conn.broadcast_event(cli, 5)  # type: ignore[call-arg]


def test_keywords_carry_c_meaning(pair: Tuple[rtr.Connection, rtr.Channel, rtr.Channel]) -> None:
    """rtr_reject_tx(ch, RTR_NO_FLAGS, 7) is reject_tx(ch, reason=7): the reason reaches both sides."""
    conn, srv, cli = pair
    conn.start_tx(cli, timeout_ms=5000, flags=0)
    conn.send_to_server(cli, key(1), flags=0)
    assert srv.receive(5).is_data
    conn.reject_tx(cli, reason=7, flags=0)
    m = cli.receive(5)
    assert (m.msgtype, m.reason) == (rtr.MsgType.REJECTED, 7)
    m = srv.receive(5)
    assert (m.msgtype, m.reason) == (rtr.MsgType.REJECTED, 7)


def _public_callables() -> Iterator[Tuple[str, Any]]:
    """Every public function, class, method and property of the package."""
    for modname, module in (("rtr", rtr), ("rtr.asyncio", rtr.asyncio)):
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj):
                yield f"{modname}.{name}", obj
                for attr, member in vars(obj).items():
                    if attr.startswith("_") and attr not in ("__init__", "__enter__", "__exit__", "__aenter__", "__aexit__"):
                        continue
                    if isinstance(member, property):
                        if member.fget is not None:
                            yield f"{modname}.{name}.{attr}", member.fget
                    elif isinstance(member, (classmethod, staticmethod)):
                        yield f"{modname}.{name}.{attr}", member.__func__
                    elif callable(member):
                        yield f"{modname}.{name}.{attr}", member
            elif callable(obj):
                yield f"{modname}.{name}", obj


def test_flags_are_keyword_only_everywhere() -> None:
    """Every public parameter named flags is keyword-only, except
    open_channel's (required, and first in C too)."""
    seen = 0
    for name, obj in _public_callables():
        try:
            sig = inspect.signature(obj)
        except (TypeError, ValueError):
            continue  # native (Tid) methods
        p = sig.parameters.get("flags")
        if p is None or name.endswith("open_channel"):
            continue
        seen += 1
        assert p.kind is inspect.Parameter.KEYWORD_ONLY, f"{name}{sig}"
    assert seen >= 30


# ------------------------------------------------------ module == Connection

# The Connection methods that have no module function: constructors and
# helpers that hand out objects bound to one connection.
NOT_MIRRORED = {"close", "closed", "connect", "daemon", "embedded", "messages", "open_client", "open_server"}


def test_module_functions_mirror_connection() -> None:
    methods = {n for n, m in vars(rtr.Connection).items() if not n.startswith("_")}
    mirrored = methods - NOT_MIRRORED
    assert len(mirrored) >= 20
    for name in sorted(mirrored):
        func = getattr(rtr, name, None)
        assert func is not None, f"rtr.{name} is missing"
        assert name in rtr.__all__, name
        method = inspect.signature(getattr(rtr.Connection, name))
        params = list(method.parameters.values())[1:]  # without self
        assert inspect.signature(func) == method.replace(parameters=params), name


# ------------------------------------------------------------------ typing


def test_get_type_hints_works_on_every_public_callable() -> None:
    count = 0
    for name, obj in _public_callables():
        try:
            typing.get_type_hints(obj)
        except TypeError as e:
            # Native methods and slot wrappers have no annotations to resolve.
            assert "is not a module, class, method, or function" in str(e), f"{name}: {e}"
            continue
        except Exception as e:  # noqa: BLE001
            pytest.fail(f"typing.get_type_hints({name}) raised {e!r}")
        count += 1
    assert count >= 84


STRICT_PROGRAM = '''
from __future__ import annotations

import asyncio
import copy
import math
import pickle
from typing import List, Optional

import rtr
import rtr.asyncio


def commit(conn: rtr.Connection, data: bytes) -> rtr.Tid:
    with conn.open_client("BANK") as ch:
        with ch.transaction(timeout_ms=5000) as tx:
            tx.send(data)
            reply: Optional[rtr.Message] = tx.receive(timeout=math.inf)
            assert reply is not None and reply.status is None
        return tx.tid


def order(tids: List[rtr.Tid]) -> List[rtr.Tid]:
    s = sorted(tids)
    assert s[0] <= s[-1] and rtr.Tid.parse(str(s[0])) == s[0]
    return [copy.copy(t) for t in pickle.loads(pickle.dumps(s))]


def port(conn: rtr.Connection, ch: int) -> None:
    conn.reject_tx(ch, reason=3, flags=rtr.RejectFlag.RETRY)
    conn.accept_tx(ch, reason=0, flags=rtr.AcceptFlag.FORGET)
    conn.start_tx(ch, timeout_ms=100)
    rtr.broadcast_event(ch, b"x", evtnum=rtr.EvtNum.USERBASE + 1)
    rtr.prepare_tx(ch, reason=1, data="text")


def status_of(e: rtr.RtrError) -> str:
    return e.status.name if isinstance(e.status, rtr.Status) else str(e.status)


def event(m: rtr.Message) -> bool:
    return m.evtnum == rtr.EvtNum.SRPRIMARY


async def serve_one(conn: rtr.asyncio.AsyncConnection) -> rtr.ServeStats:
    srv = await conn.open_server("BANK", rtr.KeySegment(rtr.KeyType.UNSIGNED, 4, 0, 0, 9))

    async def handler(m: rtr.Message) -> bytes:
        await asyncio.sleep(0)
        return m.data

    return await rtr.asyncio.serve(srv, handler, max_transactions=1)


async def client(conn: rtr.asyncio.AsyncConnection) -> None:
    cli = await conn.open_client("BANK")
    async with cli.transaction(timeout_ms=5000) as tx:
        tx.send(b"x")
        r = await tx.receive(timeout=5)
        assert r is None or isinstance(r.data, bytes)
    m: rtr.Message = await conn.receive_message([cli], timeout=0.1)
    print(m.tid)
'''


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed (scripts/test.sh installs it)")
def test_a_strict_user_program_type_checks() -> None:
    with tempfile.TemporaryDirectory() as d:
        prog = Path(d) / "user_program.py"
        prog.write_text(textwrap.dedent(STRICT_PROGRAM))
        r = subprocess.run(
            [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(prog)],
            capture_output=True,
            text=True,
            cwd=d,
        )
        assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed (scripts/test.sh installs it)")
def test_mypy_rejects_the_old_positional_form() -> None:
    """The keyword-only flags are in the types too: the trap fails at check time."""
    with tempfile.TemporaryDirectory() as d:
        prog = Path(d) / "old.py"
        prog.write_text("import rtr\n\ndef f(c: rtr.Connection) -> None:\n    c.reject_tx(1, 0, 1)\n")
        r = subprocess.run(
            [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(prog)],
            capture_output=True,
            text=True,
            cwd=d,
        )
        assert r.returncode == 1 and "Too many positional arguments" in r.stdout, r.stdout + r.stderr
