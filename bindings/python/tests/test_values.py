"""Tid and Message are values; statuses and event numbers are enums everywhere."""

from __future__ import annotations

import copy
import pickle
import re

import pytest
from _support import INCLUDE, key, unsigned_range

import rtr

FAC = "PYVALUES"


def tids(conn: rtr.Connection, n: int) -> list[rtr.Tid]:
    conn.open_server(FAC, unsigned_range(0, 99))
    cli = conn.open_client(FAC)
    out = []
    for _ in range(n):
        cli.start_tx()
        out.append(cli.tid)
        cli.reject()
        while cli.receive(5).msgtype != rtr.MsgType.REJECTED:
            pass
    return out


def test_tids_order_hash_pickle_copy_and_parse(conn: rtr.Connection) -> None:
    ts = tids(conn, 3)
    assert sorted(reversed(ts)) == ts  # in the order the connection started them
    assert ts[0] < ts[1] <= ts[1] < ts[2] and ts[2] > ts[0] and ts[2] >= ts[2]
    assert len({*ts, *ts}) == 3
    for t in ts:
        for proto in range(pickle.HIGHEST_PROTOCOL + 1):
            back = pickle.loads(pickle.dumps(t, proto))
            assert back == t and hash(back) == hash(t)
        assert copy.copy(t) is t and copy.deepcopy(t) is t
        assert rtr.Tid.parse(str(t)) == t
        assert rtr.Tid(str(t)) == t
        assert rtr.Tid(t.words) == t
        assert eval(repr(t), {"Tid": rtr.Tid}) == t  # noqa: S307 - the repr round-trips
    assert not rtr.Tid.parse("0,0,0,0,0,0,0")
    with pytest.raises(TypeError):
        ts[0] < "1,2,3,4,5,0,0"  # type: ignore[operator]  # noqa: B015


@pytest.mark.parametrize(
    "text",
    ["", "1,2,3", "1,2,3,4,5,0,0,0", "x,0,0,0,0,0,0", "100000000,0,0,0,0,0,0", "1,2,3,4,5,6,7", "-1,0,0,0,0,0,0"],
)
def test_tid_parse_refuses_what_is_not_a_tid(text: str) -> None:
    with pytest.raises(ValueError, match="is not a tid"):
        rtr.Tid.parse(text)
    with pytest.raises(ValueError, match="is not a tid"):
        rtr.Tid(text)


@pytest.mark.parametrize("words", [[1, 2, 3], [2**32, 0, 0, 0, 0, 0, 0], [-1, 0, 0, 0, 0, 0, 0], None, 5, [1.0] * 7])
def test_tid_from_bad_words_is_a_typeerror(words: object) -> None:
    with pytest.raises(TypeError, match="seven ints"):
        rtr.Tid(words)  # type: ignore[arg-type]


def test_messages_are_immutable_values(conn: rtr.Connection) -> None:
    srv = conn.open_server(FAC, unsigned_range(0, 99))
    cli = conn.open_client(FAC)
    cli.send(key(1, b"payload"), accept=True)
    m = srv.receive(5)
    for proto in range(2, pickle.HIGHEST_PROTOCOL + 1):
        back = pickle.loads(pickle.dumps(m, proto))
        assert back == m and hash(back) == hash(m) and back is not m
        assert back.msgtype is rtr.MsgType.MSG1 and back.tid == m.tid
    assert copy.copy(m) is m and copy.deepcopy(m) is m
    assert m != rtr.Message(m.channel, m.msgtype, m.usrhdl, m.tid, m.evtnum, m.data + b"!")
    assert {m: 1}[pickle.loads(pickle.dumps(m))] == 1
    with pytest.raises(AttributeError, match="immutable"):
        m.data = b"other"  # type: ignore[misc]
    with pytest.raises(AttributeError, match="immutable"):
        del m.channel
    assert m != object()


def test_event_numbers_are_an_enum_equal_to_the_header() -> None:
    header = (INCLUDE / "rtr.h").read_text()
    defined = {n: int(v) for n, v in re.findall(r"#define RTR_EVTNUM_(\w+) \(\(rtr_evtnum_t\)\((-?\d+)\)\)", header)}
    assert len(defined) >= 20
    assert {n: int(v) for n, v in rtr.EvtNum.__members__.items()} == defined
    # A value that names an event and a bound is known by the event's name.
    assert rtr.EvtNum(256).name == "FACREADY" and rtr.EvtNum.RTRBASE is rtr.EvtNum.FACREADY


def test_rtr_events_carry_an_evtnum_and_show_it(conn: rtr.Connection) -> None:
    srv = conn.open_server("PYVALEVT", unsigned_range(0, 9), events=[rtr.EvtNum.RTRDEF])
    seen = set()
    for _ in range(4):
        m = srv.receive(5)
        assert m.msgtype == rtr.MsgType.RTR_EVENT
        assert isinstance(m.evtnum, rtr.EvtNum)
        assert f"evtnum={m.evtnum.name}" in repr(m)
        seen.add(m.evtnum)
    assert rtr.EvtNum.SRPRIMARY in seen


def test_user_events_show_their_number(conn: rtr.Connection) -> None:
    srv = conn.open_server("PYVALUEV", unsigned_range(0, 9), events=[rtr.EvtNum.USERDEF, 7])
    cli = conn.open_client("PYVALUEV")
    cli.broadcast_event(b"hello", evtnum=7)
    m = srv.receive(5)
    assert (m.msgtype, m.evtnum, m.data) == (rtr.MsgType.USER_EVENT, 7, b"hello")
    assert "evtnum=7" in repr(m)


def test_error_status_is_a_status(conn: rtr.Connection) -> None:
    with pytest.raises(rtr.InvalidChannel) as e:
        conn.close_channel(999)
    assert e.value.status is rtr.Status.INVCHANNEL
    assert type(e.value.status) is rtr.Status
    back = pickle.loads(pickle.dumps(e.value))
    assert back.status is rtr.Status.INVCHANNEL and str(back) == str(e.value)
    assert rtr.RtrError("x").status is rtr.Status.INTERNAL
    assert rtr.Timeout("x").status is rtr.Status.TIMOUT
    odd = rtr.RtrError("odd", 12345)
    assert odd.status == 12345 and not isinstance(odd.status, rtr.Status)


def test_a_rejection_status_is_a_status(conn: rtr.Connection) -> None:
    srv = conn.open_server(FAC, unsigned_range(0, 99))
    cli = conn.open_client(FAC)
    with pytest.raises(rtr.Rejected) as e:
        with cli.transaction() as tx:
            tx.send(key(2))
            m = srv.receive(5)
            srv.reject(reason=9)
            assert m.is_data
            tx.receive(5)
    assert e.value.status is rtr.Status.REJECTED and e.value.reason == 9
    assert pickle.loads(pickle.dumps(e.value)).status is rtr.Status.REJECTED


def test_str_data_is_sent_utf8_encoded(conn: rtr.Connection) -> None:
    srv = conn.open_server(FAC, unsigned_range(0, 99))
    cli = conn.open_client(FAC)
    cli.send(key(3).decode("latin-1") + "héllo")
    # The key bytes are below 0x80, so they stay as they are in UTF-8.
    assert srv.receive(5).data == key(3) + "héllo".encode()
