"""Python and C programs on one facility.

The C side is real RTR C code (tests/c/peers.c, compiled against
include/rtr.h with gcc) loaded into this process with rtr.load_c_library:
its rtr_* calls reach the C API carried by the Python module, on the same
process-wide node as rtr.Connection(). (Python and C in different processes,
through the node daemon: test_daemon.py.)
"""

from __future__ import annotations

import ctypes
import re
import sys
import threading
from pathlib import Path
from typing import Any, Dict, Tuple

import pytest
from _support import INCLUDE, compile_c_library, compile_c_program, key, unsigned_range

import rtr

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    so = compile_c_library(HERE / "c" / "peers.c", tmp_path_factory.mktemp("c") / "libpeers.so")
    lib = rtr.load_c_library(so)
    for name in ("c_server", "c_client"):
        f = getattr(lib, name)
        f.restype = ctypes.c_int
    lib.c_server.argtypes = [ctypes.c_char_p, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t]
    lib.c_client.argtypes = [ctypes.c_char_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t]
    return lib


def run_c(f: Any, *args: Any) -> Tuple[int, str]:
    err = ctypes.create_string_buffer(512)
    n = f(*args, err, len(err))
    return n, err.value.decode(errors="replace")


def test_python_client_against_c_server(peers: ctypes.CDLL) -> None:
    conn = rtr.Connection()  # the process-wide node, which the C code uses
    result: Dict[str, Tuple[int, str]] = {}
    t = threading.Thread(target=lambda: result.setdefault("c", run_c(peers.c_server, b"PYTEST_C_SRV", 0, 99, 10)))
    t.start()
    # Wait until the C server's channel is open: a transaction routes then.
    with conn.open_client("PYTEST_C_SRV") as ch:
        replies = []
        for i in range(10):
            for _attempt in range(100):
                try:
                    with ch.transaction(timeout_ms=5000) as tx:
                        tx.send(key(i, b"py%d" % i))
                        r = tx.receive(5)
                        assert r is not None
                        replies.append(r.data)
                    break
                except rtr.Rejected as e:
                    assert e.status == rtr.Status.NODSTFND and i == 0, e  # server not open yet
                    threading.Event().wait(0.05)
    t.join(30)
    assert not t.is_alive()
    assert result["c"] == (10, ""), result
    assert replies == [b"C:py%d" % i for i in range(10)]


def test_c_client_against_python_server(peers: ctypes.CDLL, server_thread) -> None:  # type: ignore[no-untyped-def]
    conn = rtr.Connection()
    with conn.open_server("PYTEST_C_CLI", unsigned_range(0, 99)) as srv:
        s = server_thread(srv, lambda m: b"PY:" + m.data[4:])
        # ctypes releases the GIL during the call: the Python server runs meanwhile.
        n, err = run_c(peers.c_client, b"PYTEST_C_CLI", 42, 12)
        stats = s.join()
    assert (n, err) == (12, "")
    assert (stats.messages, stats.accepted) == (12, 12)


def test_c_and_python_agree_on_the_vocabulary(tmp_path: Path) -> None:
    """Every flag, message type, status and key type has the same name and
    value in Python as in include/rtr.h, and the header has none that
    Python lacks."""
    names: Dict[str, int] = {}
    for cls in (rtr.OpenFlag, rtr.SendFlag, rtr.ReplyFlag, rtr.AcceptFlag, rtr.RejectFlag, rtr.CloseFlag, rtr.TidFlag):
        group = {"OpenFlag": "OPE", "SendFlag": "SEN", "ReplyFlag": "REP", "AcceptFlag": "ACC",
                 "RejectFlag": "REJ", "CloseFlag": "CLO", "TidFlag": "TID"}[cls.__name__]
        for m in cls:
            names[f"RTR_F_{group}_{m.name}"] = int(m)
    for m in rtr.MsgType:
        names[f"rtr_mt_{m.name.lower()}"] = int(m)
    for st in rtr.Status:
        names[st.c_name] = int(st)
    for kt in rtr.KeyType:
        names[f"rtr_keyseg_{kt.name.lower()}"] = int(kt)
    src = tmp_path / "vocab.c"
    lines = ['#include <stdio.h>', '#include "rtr.h"', "int main(void) {"]
    lines += [f'    printf("%s %lld\\n", "{n}", (long long){n});' for n in names]
    lines += ["    return 0;", "}"]
    src.write_text("\n".join(lines) + "\n")
    exe = compile_c_program(src, tmp_path / "vocab")
    import subprocess

    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    c_values = {n: int(v) for n, v in (line.split() for line in out.splitlines())}
    assert c_values == names

    header = (INCLUDE / "rtr.h").read_text()
    declared = set(re.findall(r"#define (RTR_F_[A-Z_]+|RTR_STS_[A-Z0-9_]+) ", header))
    declared |= set(re.findall(r"^\s+(rtr_mt_[a-z0-9_]+|rtr_keyseg_[a-z]+) =", header, re.M))
    assert declared - set(names) == set(), "in rtr.h but not in the Python enums"

    # And the texts: rtr_error_text (from the C API in the module) == Status.text.
    lib = ctypes.CDLL(rtr.c_api_path())
    lib.rtr_error_text.restype = ctypes.c_char_p
    lib.rtr_error_text.argtypes = [ctypes.c_int32]
    for st in rtr.Status:
        assert lib.rtr_error_text(int(st)).decode() == st.text == rtr.error_text(st)


@pytest.mark.skipif(sys.platform != "linux", reason="ELF symbol scope")
def test_c_code_shares_the_python_node(peers: ctypes.CDLL) -> None:
    """The C functions resolved in the loaded library are the module's, not
    a separate librtr's: a channel the C API opens is visible to Python."""
    lib = ctypes.CDLL(rtr.c_api_path())
    chan = ctypes.c_uint32()
    lib.rtr_open_channel.restype = ctypes.c_int32
    s = lib.rtr_open_channel(ctypes.byref(chan), int(rtr.OpenFlag.CLIENT), b"PYTEST_SHARED", None, None, None, 0, None)
    assert s == rtr.Status.OK
    conn = rtr.Connection()
    m = conn.receive_message(chan.value, 5)  # Python receives on the C channel
    assert m.msgtype == rtr.MsgType.OPENED
    conn.close_channel(chan.value)
