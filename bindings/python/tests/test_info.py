"""rtr_request_info and rtr_set_info from Python: the faithful calls (an
information channel, records, then CLOSED) and the query_info/set_partition
helpers."""

from __future__ import annotations

import threading

import pytest
from _support import key, unsigned_range

import rtr

M = rtr.MsgType
S = rtr.Status


def _records(conn: rtr.Connection, ch: int) -> tuple:  # type: ignore[type-arg]
    records = []
    while True:
        m = conn.receive_message(ch, 5)
        if m.msgtype == M.CLOSED:
            return records, m.status, m.reason
        assert m.msgtype == M.REQUEST_INFO
        assert m.data.endswith(b"\0")
        records.append(rtr.parse_info_record(m.data))


def test_request_info_lists_objects_then_closes(conn: rtr.Connection) -> None:
    srv = conn.open_server("PYINFO", unsigned_range(0, 99))
    ch = conn.request_info("PRT", "fac_name", "pyinfo", ["prt_id", "state", "servers"])
    assert isinstance(ch, int)
    records, status, reason = _records(conn, ch)
    assert status == S.OK and reason == 0
    assert len(records) == 1
    assert records[0]["state"] == "active" and records[0]["servers"] == "1"
    assert list(records[0]) == ["prt_id", "state", "servers"]
    # After CLOSED only close_channel is valid.
    with pytest.raises(rtr.InvalidChannel) as ei:
        conn.set_user_handle(ch, 1)
    assert ei.value.status == S.CHANCLOSED
    conn.close_channel(ch)

    srvs = conn.query_info("srv", getitms="channel,state")
    assert srvs == [{"channel": str(int(srv)), "state": "free"}]
    assert conn.query_info("prt", "fac_name", "NOSUCH") == []
    srv.close()


def test_bad_requests_raise_their_status(conn: rtr.Connection) -> None:
    for args in [("nope",), ("prt", "bogus", "1"), ("prt", None, None, "state,bogus"), ("prt", "state", "x" * 256)]:
        with pytest.raises(rtr.InvalidArgument) as ei:
            conn.request_info(*args)  # type: ignore[arg-type]
        assert ei.value.status == S.INVSELITM, args
    with pytest.raises(rtr.InvalidArgument) as ei:
        conn.request_info("prt", flags=1)
    assert ei.value.status == S.INVFLAGS
    with pytest.raises(TypeError):
        conn.request_info(5)  # type: ignore[arg-type]

    select = {"rtr_facility_name": "F", "rtr_partition_name": "1"}
    resume = {"rtr_partition_state_resume": None}
    for verb, obj in [("verb_get", "rtr_partition_object"), ("verb_set", "rtr_facility_object"), (0, 1), (1, 2)]:
        with pytest.raises(rtr.InvalidArgument) as ei:
            conn.set_info(verb, obj, select, resume)
        assert ei.value.status == S.INVOBJCT, (verb, obj)
    cases = [
        ({"rtr_facility_name": "F"}, resume, S.INVSELITM),
        ({"rtr_facility_name": "F", "bogus": "1"}, resume, S.INVSELITM),
        ({"rtr_facility_name": "9F", "rtr_partition_name": "1"}, resume, S.INVFACNAM),
        (select, {}, S.INVQUALIFIER),
        (select, {"rtr_partition_rcvy_retry_count": 0}, S.INVQUALIFIER),
        (select, {"rtr_partition_rcvy_retry_count": -1}, S.INVQUALIFIER),
        (select, {"no_such_qualifier": None}, S.INVQUALIFIER),
        (select, [("rtr_partition_state_suspend", None), ("rtr_partition_state_resume", None)], S.INVQUALIFIER),
        # The shadow switch takes a number (0 off, else on).
        (select, {"RTR_PARTITION_STATE_SHADOW": None}, S.INVQUALIFIER),
        (select, {"rtr_partition_pre32_compatible": None}, S.UNSUPPORTED),
    ]
    for sel, changes, status in cases:
        with pytest.raises(rtr.RtrError) as e:
            conn.set_info("verb_set", "rtr_partition_object", sel, changes)
        assert e.value.status == status, (sel, changes)
    with pytest.raises(TypeError):
        conn.set_info("verb_set", "rtr_partition_object", select, {"rtr_partition_be_priority_list": 1.5})


def test_suspend_holds_work_until_resumed(conn: rtr.Connection) -> None:
    srv = conn.open_server("PYSUSP", unsigned_range(0, 99))
    cli = conn.open_client("PYSUSP")
    (part,) = conn.query_info("prt", "fac_name", "PYSUSP", "prt_id")
    pid = part["prt_id"]

    # The faithful call, with codes and a list of pairs.
    ch = conn.set_info(1, 1, [(1, "pysusp"), (2, pid)], [(3, None), ("rtr_partition_rcvy_retry_count", 2)])
    records, status, _ = _records(conn, ch)
    assert records == [] and status == S.OK
    conn.close_channel(ch)
    assert conn.query_info("prt", "prt_id", pid, "state") == [{"state": "suspended"}]

    cli.send(key(5), accept=True)
    with pytest.raises(rtr.Timeout):
        srv.receive(0.3)
    conn.set_partition("PYSUSP", pid, {"rtr_partition_state_resume": None, "rtr_partition_fail_to_standby": None})
    m = srv.receive(5)
    assert m.msgtype == M.MSG1
    with pytest.raises(rtr.InvalidArgument) as ei:
        conn.set_partition("PYSUSP", 424242, {"rtr_partition_state_resume": None})
    assert ei.value.status == S.INVOBJCT
    with pytest.raises(rtr.InvalidArgument) as ei:
        conn.set_partition("PYSUSP", pid, {"rtr_partition_state_exitwait": None})
    assert ei.value.status == S.INVQUALIFIER
    # Shadowing: off changes nothing on a partition that is not shadowed;
    # on is refused there.
    conn.set_partition("PYSUSP", pid, {"rtr_partition_state_shadow": 0})
    with pytest.raises(rtr.RtrError) as e:
        conn.set_partition("PYSUSP", pid, {"rtr_partition_state_shadow": 1})
    assert e.value.status == S.UNSUPPORTED


def test_the_query_runs_without_the_gil(conn: rtr.Connection) -> None:
    """Other Python threads run while queries go to the node."""
    conn.open_server("PYGIL", unsigned_range(0, 99))
    stop = threading.Event()
    ticks = []

    def spin() -> None:
        while not stop.is_set():
            ticks.append(1)

    t = threading.Thread(target=spin)
    t.start()
    try:
        for _ in range(50):
            assert len(conn.query_info("prt", "fac_name", "PYGIL")) == 1
    finally:
        stop.set()
        t.join()
    assert ticks
