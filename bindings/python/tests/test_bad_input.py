"""Bad input raises the right exception with the right status, never crashes.

Each case names the call, the exception class and the RTR status (None for
plain Python errors such as TypeError on a value of the wrong type).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional, Type

import pytest
from _support import key, unsigned_range

import rtr

FAC = "PYTEST_BAD"
S = rtr.Status
F = rtr.OpenFlag
U = rtr.KeyType.UNSIGNED


class Env:
    def __init__(self, conn: rtr.Connection) -> None:
        self.conn = conn
        self.srv = conn.open_server(FAC, unsigned_range(0, 99)).id
        self.cli = conn.open_client(FAC).id


def seg(**kw: Any) -> rtr.KeySegment:
    base = dict(type=U, length=4, offset=0, low=0, high=99)
    base.update(kw)
    return rtr.KeySegment(**base)  # type: ignore[arg-type]


def server_keys(keys: Any) -> Callable[[Env], Any]:
    return lambda e: e.conn.open_channel(F.SERVER, FAC, keys=keys)


def started(e: Env) -> Env:
    e.conn.start_tx(e.cli)
    return e


def accepted(e: Env) -> Env:
    e.conn.send_to_server(e.cli, key(1), flags=rtr.SendFlag.ACCEPT)
    return e


CASES = [
    # channels
    ("unknown channel", lambda e: e.conn.close_channel(999), rtr.InvalidChannel, S.INVCHANNEL),
    ("channel 0", lambda e: e.conn.start_tx(0), rtr.InvalidChannel, S.INVCHANNEL),
    ("negative channel", lambda e: e.conn.close_channel(-1), rtr.InvalidChannel, S.INVCHANNEL),
    ("huge channel", lambda e: e.conn.get_tid(2**100), rtr.InvalidChannel, S.INVCHANNEL),
    ("channel as str", lambda e: e.conn.close_channel("1"), TypeError, None),
    ("channel None", lambda e: e.conn.close_channel(None), TypeError, None),
    ("channel float", lambda e: e.conn.accept_tx(1.0), TypeError, None),
    # open_channel
    ("neither client nor server", lambda e: e.conn.open_channel(0, FAC), rtr.InvalidArgument, S.INVFLAGS),
    ("client and server", lambda e: e.conn.open_channel(F.CLIENT | F.SERVER, FAC), rtr.InvalidArgument, S.INVFLAGS),
    ("unknown open flag", lambda e: e.conn.open_channel(F.CLIENT | (1 << 20), FAC), rtr.InvalidArgument, S.INVFLAGS),
    ("negative flags", lambda e: e.conn.open_channel(-1, FAC), rtr.InvalidArgument, S.INVFLAGS),
    ("huge flags", lambda e: e.conn.open_channel(2**64, FAC), rtr.InvalidArgument, S.INVFLAGS),
    ("server flag on client", lambda e: e.conn.open_channel(F.CLIENT | F.EXPLICIT_ACCEPT, FAC), rtr.InvalidArgument, S.INVFLAGS),
    ("shadow on a client", lambda e: e.conn.open_channel(F.CLIENT | F.SHADOW, FAC), rtr.InvalidArgument, S.INVFLAGS),
    ("facility digit first", lambda e: e.conn.open_channel(F.CLIENT, "1BAD"), rtr.InvalidArgument, S.INVFACNAM),
    ("facility too long", lambda e: e.conn.open_channel(F.CLIENT, "F" * 32), rtr.InvalidArgument, S.INVFACNAM),
    ("facility empty", lambda e: e.conn.open_channel(F.CLIENT, ""), rtr.InvalidArgument, S.INVFACNAM),
    ("facility not str", lambda e: e.conn.open_channel(F.CLIENT, 5), TypeError, None),
    ("recipient wildcard", lambda e: e.conn.open_channel(F.CLIENT, FAC, recipient="a*"), rtr.InvalidArgument, S.INVRCPNAM),
    ("access too long", lambda e: e.conn.open_channel(F.CLIENT, FAC, access="x" * 300), rtr.InvalidArgument, S.INVACCESS),
    ("event number too big", lambda e: e.conn.open_channel(F.CLIENT, FAC, events=[2**40]), rtr.InvalidArgument, S.INVPEVTNUM),
    ("event not int", lambda e: e.conn.open_channel(F.CLIENT, FAC, events=["x"]), TypeError, None),
    ("keys on a client", lambda e: e.conn.open_channel(F.CLIENT, FAC, keys=[seg()]), rtr.InvalidArgument, S.INVNUMSEG),
    # key segments
    ("21 segments", server_keys([seg()] * 21), rtr.InvalidArgument, S.INVNUMSEG),
    ("numeric length 3", server_keys([seg(length=3)]), rtr.InvalidArgument, S.INVMSGSIZE),
    ("low above high", server_keys([seg(low=10, high=9)]), rtr.InvalidArgument, S.INVPKEYSEG),
    ("offset beyond message", server_keys([seg(offset=64_000)]), rtr.InvalidArgument, S.INVPKEYSEG),
    ("huge offset", server_keys([seg(offset=2**40)]), rtr.InvalidArgument, S.INVPKEYSEG),
    ("huge length", server_keys([seg(type=rtr.KeyType.STRING, length=2**40, low=None, high=None)]), rtr.InvalidArgument, S.INVPKEYSEG),
    ("string length 70000", server_keys([seg(type=rtr.KeyType.STRING, length=70_000, low=None, high=None)]), rtr.InvalidArgument, S.INVPKEYSEG),
    ("negative length", server_keys([seg(length=-4)]), rtr.InvalidArgument, S.INVPKEYSEG),
    ("bound too big for 1 byte", server_keys([seg(length=1, low=0, high=256)]), rtr.InvalidArgument, S.INVPKEYSEG),
    ("negative unsigned bound", server_keys([seg(low=-1)]), rtr.InvalidArgument, S.INVPKEYSEG),
    ("signed bound too small", server_keys([seg(type=rtr.KeyType.SIGNED, length=1, low=-129)]), rtr.InvalidArgument, S.INVPKEYSEG),
    ("numeric bound of wrong size", server_keys([seg(low=b"\x00\x00")]), rtr.InvalidArgument, S.INVPKEYSEG),
    ("string bound longer than key", server_keys([seg(type=rtr.KeyType.STRING, length=2, low="abc", high=None)]), rtr.InvalidArgument, S.INVPKEYSEG),
    ("int bound on string key", server_keys([seg(type=rtr.KeyType.STRING, length=2, low=1)]), rtr.InvalidArgument, S.INVPKEYSEG),
    ("unknown key type", server_keys([seg(type=99)]), rtr.InvalidArgument, S.INVPKEYSEG),
    ("partition key type", server_keys([seg(type=rtr.KeyType.PARTITION)]), rtr.Unsupported, S.UNSUPPORTED),
    ("key bound of a bad type", server_keys([seg(low=1.5)]), rtr.InvalidArgument, S.INVPKEYSEG),
    ("key not a tuple", server_keys([42]), TypeError, None),
    ("keys not iterable", server_keys(42), TypeError, None),
    # messages
    ("message too long", lambda e: e.conn.send_to_server(e.cli, bytes(64_001)), rtr.InvalidArgument, S.INVMSGLEN),
    ("message 10 MB", lambda e: e.conn.send_to_server(e.cli, bytes(10_000_000)), rtr.InvalidArgument, S.INVMSGLEN),
    ("reply too long", lambda e: e.conn.reply_to_client(e.srv, bytes(64_001)), rtr.InvalidArgument, S.INVMSGLEN),
    ("message None", lambda e: e.conn.send_to_server(e.cli, None), TypeError, None),
    ("message int", lambda e: e.conn.send_to_server(e.cli, 12), TypeError, None),
    ("message list", lambda e: e.conn.send_to_server(e.cli, [1, 2]), TypeError, None),
    ("unknown send flag", lambda e: e.conn.send_to_server(e.cli, key(1), flags=1 << 9), rtr.InvalidArgument, S.INVFLAGS),
    # wrong state
    ("send on a server channel", lambda e: e.conn.send_to_server(e.srv, key(1)), rtr.WrongState, S.INVOP4SRV),
    ("start_tx on a server channel", lambda e: e.conn.start_tx(e.srv), rtr.WrongState, S.INVOP4SRV),
    ("reply on a client channel", lambda e: e.conn.reply_to_client(e.cli, b"x"), rtr.WrongState, S.INVOP4CLI),
    ("reply without transaction", lambda e: e.conn.reply_to_client(e.srv, b"x"), rtr.WrongState, S.NOTACTTX),
    ("accept without transaction", lambda e: e.conn.accept_tx(e.cli), rtr.WrongState, S.NOTACTTX),
    ("reject without transaction", lambda e: e.conn.reject_tx(e.srv), rtr.WrongState, S.NOTACTTX),
    ("get_tid without transaction", lambda e: e.conn.get_tid(e.cli), rtr.WrongState, S.NOTACTTX),
    ("start_tx twice", lambda e: started(e).conn.start_tx(e.cli), rtr.WrongState, S.TXACTIVE),
    ("send after accept", lambda e: accepted(e).conn.send_to_server(e.cli, key(1)), rtr.WrongState, S.TXALRACC),
    ("reject after accept", lambda e: accepted(e).conn.reject_tx(e.cli), rtr.WrongState, S.TXALRACC),
    # reasons, timeouts, flags of other calls
    ("negative reason", lambda e: started(e).conn.accept_tx(e.cli, reason=-1), rtr.InvalidArgument, S.INVREASON),
    ("huge reason", lambda e: started(e).conn.reject_tx(e.cli, reason=2**32), rtr.InvalidArgument, S.INVREASON),
    ("negative tx timeout", lambda e: e.conn.start_tx(e.cli, timeout_ms=-5), rtr.InvalidArgument, S.INVTIMOUTMS),
    ("start_tx flags", lambda e: e.conn.start_tx(e.cli, flags=1), rtr.InvalidArgument, S.INVFLAGS),
    ("get_tid DDTM", lambda e: started(e).conn.get_tid(e.cli, flags=rtr.TidFlag.DDTM), rtr.InvalidArgument, S.INVFLAGS),
    ("close flags", lambda e: e.conn.close_channel(e.cli, flags=1 << 5), rtr.InvalidArgument, S.INVFLAGS),
    # (RTR_F_ACC_FORGET and RTR_F_REP_FORGET are supported: test_voting.py.)
    ("reply forget without transaction", lambda e: e.conn.reply_to_client(e.srv, b"x", flags=rtr.ReplyFlag.FORGET), rtr.WrongState, S.NOTACTTX),
    ("reject retry on a client", lambda e: started(e).conn.reject_tx(e.cli, flags=rtr.RejectFlag.RETRY), rtr.InvalidArgument, S.INVFLAGS),
    # receive
    ("negative receive timeout", lambda e: e.conn.receive_message(e.cli, -1), rtr.InvalidArgument, S.INVTIMOUTMS),
    ("NaN receive timeout", lambda e: e.conn.receive_message(e.cli, math.nan), rtr.InvalidArgument, S.INVTIMOUTMS),
    ("receive timeout str", lambda e: e.conn.receive_message(e.cli, "1"), TypeError, None),
    ("empty channel list", lambda e: e.conn.receive_message([], 0), rtr.InvalidChannel, S.INVRCVCHAN),
    ("unknown channel in list", lambda e: e.conn.receive_message([e.cli, 999], 0), rtr.InvalidChannel, S.INVRCVCHAN),
    ("negative channel in list", lambda e: e.conn.receive_message([-3], 0), rtr.InvalidChannel, S.INVCHANNEL),
    ("channel list of str", lambda e: e.conn.receive_message("ab", 0), TypeError, None),
    ("poll with nothing queued", lambda e: e.conn.receive_message(e.cli, 0), rtr.Timeout, S.TIMOUT),
    # user handles
    ("negative user handle", lambda e: e.conn.set_user_handle(e.cli, -1), OverflowError, None),
    ("user handle too big", lambda e: e.conn.set_user_handle(e.cli, 2**64), OverflowError, None),
]


@pytest.mark.parametrize("name,call,exc,status", CASES, ids=[c[0] for c in CASES])
def test_bad_input(
    conn: rtr.Connection, name: str, call: Callable[[Env], Any], exc: Type[BaseException], status: Optional[int]
) -> None:
    env = Env(conn)
    # Drain the OPENED messages: the receive cases must see an empty queue.
    with pytest.raises(rtr.Timeout):
        while True:
            conn.receive_message(None, 0)
    with pytest.raises(exc) as ei:
        call(env)
    if status is not None:
        err = ei.value
        assert isinstance(err, rtr.RtrError)
        assert err.status == status
        assert err.name == "RTR_STS_" + S(status).name
        assert err.text == rtr.error_text(status) == S(status).text
        assert str(err)  # the core's message, for people
    # The connection still works after the error.
    conn.close_channel(env.cli)
    assert conn.open_client(FAC).id > 0


def test_closed_channel_raises(conn: rtr.Connection) -> None:
    ch = conn.open_client(FAC)
    ch.close()
    ch.close()  # twice is fine on the helper
    with pytest.raises(rtr.InvalidChannel):
        conn.send_to_server(ch, key(1))
    with pytest.raises(rtr.InvalidChannel):
        conn.close_channel(ch)


def test_too_many_channels(conn: rtr.Connection) -> None:
    chans = [conn.open_channel(F.CLIENT, FAC) for _ in range(rtr.MAX_CHANNELS)]
    with pytest.raises(rtr.LimitExceeded) as ei:
        conn.open_channel(F.CLIENT, FAC)
    assert ei.value.status == S.TOOMANYCHN
    for c in chans:
        conn.close_channel(c)
    conn.open_channel(F.CLIENT, FAC)


def test_receive_with_no_channel_open(conn: rtr.Connection) -> None:
    with pytest.raises(rtr.InvalidChannel) as ei:
        conn.receive_message(None, 1)
    assert ei.value.status == S.INVRCVCHAN


def test_refused_open_is_an_error(conn: rtr.Connection) -> None:
    """An open that RTR refuses (delivered as CLOSED) raises from open_server
    with the status RTR gave, and the channel is released."""
    conn.open_server(FAC, unsigned_range(0, 99))
    with pytest.raises(rtr.OpenRefused) as ei:
        conn.open_server(FAC, unsigned_range(50, 150))
    assert ei.value.status == S.KEYOVERLAP


def test_a_shadow_server_needs_a_facility_across_two_sites(conn: rtr.Connection) -> None:
    """RTR_F_OPE_SHADOW on a node with no facility defined across nodes
    (docs/shadow.md): refused as CLOSED with RTR_STS_UNSUPPORTED, since no
    partner site could ever take what it would remember. The error is the
    status's own class, as for any open RTR closes."""
    with pytest.raises(rtr.Unsupported) as ei:
        conn.open_server(FAC, unsigned_range(0, 99), flags=F.SHADOW)
    assert ei.value.status == S.UNSUPPORTED


def test_error_objects() -> None:
    e = rtr.InvalidChannel("boom")
    assert e.status == S.INVCHANNEL and e.name == "RTR_STS_INVCHANNEL"
    assert isinstance(rtr.InvalidArgument("x"), ValueError)
    assert isinstance(rtr.Timeout("x"), TimeoutError)
    import pickle

    r = pickle.loads(pickle.dumps(rtr.Rejected("no", S.NODSTFND, 4)))
    assert (type(r), r.status, r.reason, str(r)) == (rtr.Rejected, S.NODSTFND, 4, "no")
    assert rtr.error_text(-12345) == "unknown RTR status"
    assert rtr.error_text(2**40) == "unknown RTR status"
