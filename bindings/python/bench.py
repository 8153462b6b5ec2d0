"""Python binding overhead, in `rtr bench` terms.

Shape (the same as `rtr bench`): each client thread runs one-message
transactions back to back on its own channel: `send_to_server` with
RTR_F_SEN_ACCEPT (implicit start), then receive until `rtr_mt_accepted`;
latency is from the send to the ACCEPTED. The server channels serve one
partition with implicit accept and no reply. Everything is on the
process-wide embedded node, without a journal by default (so the figures
show the library and binding, not the disk).

Three server/client pairings:

* ``py-client/c-server``: Python clients (the faithful calls) against a
  server written in C (compiled here against include/rtr.h and loaded with
  rtr.load_c_library, so it runs on the same node without the GIL): the cost
  of the binding on the client side alone.
* ``py-tx/c-server``: the same with the ``with ch.transaction()`` helper.
* ``py-client/py-server``: both sides in Python (``rtr.serve``).
* ``py-async...``: the clients as tasks of one asyncio loop on one thread
  (``rtr.asyncio``): send, then ``await`` the outcome (``py-async``), or
  ``async with ch.transaction()`` (``py-async-tx``). "clients" is then the
  number of tasks, not threads.

Compare with ``rtr bench --clients 1 --servers 1 --server-threads 1
--no-journal`` (Rust client and server through rtr-core directly), which the
script runs too when it finds the ``rtr`` binary (``--rtr PATH``, or
target/release/rtr).

Run:  python bindings/python/bench.py [--seconds 2] [--clients 1,4] [--journal DIR]
Needs the package installed (pip install ./bindings/python) and gcc for the C server.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, List, Optional, Tuple

REPO = Path(__file__).resolve().parents[2]

C_SERVER = r"""
#include <stdint.h>
#include "rtr.h"

static volatile int stop_flag;

void bench_stop(void) { stop_flag = 1; }

/* Serve one channel (implicit accept, no reply) until bench_stop(). */
int bench_server(const char *facility, uint32_t lo, uint32_t hi)
{
    static char buf[RTR_MAX_MSGLEN];
    rtr_keyseg_t ks = {rtr_keyseg_unsigned, 4, 0, &lo, &hi};
    rtr_channel_t ch, got, list[2];
    rtr_msgsb_t sb;
    rtr_status_t s = rtr_open_channel(&ch, RTR_F_OPE_SERVER, facility, RTR_NO_RCPNAM, RTR_NO_PEVTNUM,
                                      RTR_NO_ACCESS, 1, &ks);
    if (s != RTR_STS_OK)
        return s;
    list[0] = ch;
    list[1] = RTR_CHAN_ENDLIST;
    while (!stop_flag) {
        s = rtr_receive_message(&got, RTR_NO_FLAGS, list, buf, sizeof buf, 100, &sb);
        if (s != RTR_STS_OK && s != RTR_STS_TIMOUT)
            return s;
    }
    return rtr_close_channel(ch, RTR_NO_FLAGS);
}
"""


def build_c_server(tmp: Path) -> Path:
    src = tmp / "bench_server.c"
    src.write_text(C_SERVER)
    so = tmp / "libbench_server.so"
    cc = os.environ.get("CC", "gcc")
    cmd = [cc, "-O2", "-std=c11", "-shared", "-fPIC", "-I", str(REPO / "include"), str(src), "-o", str(so)]
    subprocess.run(cmd, check=True)
    return so


def load_c_server(so: Path, tmp: Path, tag: str) -> ctypes.CDLL:
    """A fresh copy of the C server per run: each copy has its own stop flag."""
    import rtr

    copy = tmp / f"libbench_{tag}.so"
    copy.write_bytes(so.read_bytes())
    lib = rtr.load_c_library(copy)
    lib.bench_server.argtypes = [ctypes.c_char_p, ctypes.c_uint32, ctypes.c_uint32]
    lib.bench_server.restype = ctypes.c_int32
    lib.bench_stop.restype = None
    return lib


def percentile(sorted_us: List[float], p: float) -> float:
    if not sorted_us:
        return float("nan")
    i = min(len(sorted_us) - 1, int(round(p / 100 * (len(sorted_us) - 1))))
    return sorted_us[i]


Client = Callable[[object, int, float, bytearray], List[float]]


def raw_client(conn, ch: int, until: float, msg: bytearray) -> List[float]:  # type: ignore[no-untyped-def]
    """The faithful calls: send with ACCEPT, receive until ACCEPTED."""
    import rtr

    lat: List[float] = []
    accept = int(rtr.SendFlag.ACCEPT)
    accepted = rtr.MsgType.ACCEPTED
    native = conn._native  # the Connection's native object: no wrapper per call
    k = ch
    perf = time.perf_counter
    while perf() < until:
        k = (k + 7919) & 0xFFFFFFFF
        msg[0:4] = k.to_bytes(4, sys.byteorder)
        t0 = perf()
        native.send_to_server(ch, msg, accept)
        while native.receive(ch, 10.0)[1] != accepted:
            pass
        lat.append((perf() - t0) * 1e6)
    return lat


def wrapped_client(conn, ch: int, until: float, msg: bytearray) -> List[float]:  # type: ignore[no-untyped-def]
    """The public Connection methods (Message objects, enums)."""
    import rtr

    lat: List[float] = []
    k = ch
    perf = time.perf_counter
    while perf() < until:
        k = (k + 7919) & 0xFFFFFFFF
        msg[0:4] = k.to_bytes(4, sys.byteorder)
        t0 = perf()
        conn.send_to_server(ch, msg, flags=rtr.SendFlag.ACCEPT)
        while conn.receive_message(ch, 10.0).msgtype != rtr.MsgType.ACCEPTED:
            pass
        lat.append((perf() - t0) * 1e6)
    return lat


def tx_client(conn, ch: int, until: float, msg: bytearray) -> List[float]:  # type: ignore[no-untyped-def]
    """The transaction context manager (explicit start_tx, then send with accept)."""
    import rtr

    channel = rtr.Channel(conn, ch, flags=rtr.OpenFlag.CLIENT)
    lat: List[float] = []
    k = ch
    perf = time.perf_counter
    while perf() < until:
        k = (k + 7919) & 0xFFFFFFFF
        msg[0:4] = k.to_bytes(4, sys.byteorder)
        t0 = perf()
        with channel.transaction() as tx:
            tx.send(msg, accept=True)
        lat.append((perf() - t0) * 1e6)
    return lat


def _async_clients(with_tx: bool) -> Callable[[object, List[int], float, int], List[List[float]]]:
    """All the clients as tasks of one asyncio loop on one thread
    (rtr.asyncio): send with ACCEPT then ``await`` the ACCEPTED, or the
    ``async with ch.transaction()`` helper."""

    def run_all(conn, chans: List[int], until: float, msg_size: int) -> List[List[float]]:  # type: ignore[no-untyped-def]
        import asyncio

        import rtr
        import rtr.asyncio as ra

        async def main() -> List[List[float]]:
            aconn = ra.AsyncConnection(conn)  # shares the connection: not closed here

            async def one(ch: int) -> List[float]:
                lat: List[float] = []
                msg = bytearray(msg_size)
                k = ch
                perf = time.perf_counter
                channel = ra.AsyncChannel(aconn, rtr.Channel(conn, ch, flags=rtr.OpenFlag.CLIENT))
                while perf() < until:
                    k = (k + 7919) & 0xFFFFFFFF
                    msg[0:4] = k.to_bytes(4, sys.byteorder)
                    t0 = perf()
                    if with_tx:
                        async with channel.transaction() as tx:
                            tx.send(msg, accept=True)
                    else:
                        conn.send_to_server(ch, msg, flags=rtr.SendFlag.ACCEPT)
                        while (await aconn.receive_message(ch, 10.0)).msgtype != rtr.MsgType.ACCEPTED:
                            pass
                    lat.append((perf() - t0) * 1e6)
                return lat

            try:
                return list(await asyncio.gather(*(one(c) for c in chans)))
            finally:
                aconn._unwatch()

        return asyncio.run(main())

    run_all.is_async = True  # type: ignore[attr-defined]
    return run_all


def measure(name: str, clients: int, seconds: float, msg_size: int, client: Client, server: str, c_lib: Optional[ctypes.CDLL]) -> Tuple[float, List[float]]:
    import rtr

    conn = rtr.Connection()
    fac = ("BENCH_" + name.replace("-", "_").replace("/", "_")).upper()[:31]
    stop = threading.Event()
    server_threads: List[threading.Thread] = []
    results: List[object] = []
    if server == "c":
        assert c_lib is not None
        t = threading.Thread(target=lambda: results.append(c_lib.bench_server(fac.encode(), 0, 0xFFFFFFFF)))
        t.start()
        server_threads.append(t)
    else:
        srv = conn.open_server(fac, rtr.KeySegment(rtr.KeyType.UNSIGNED, 4, 0, None, None))
        t = threading.Thread(target=lambda: results.append(rtr.serve(srv, lambda m: None, stop=stop)))
        t.start()
        server_threads.append(t)

    chans = []
    for _ in range(clients):
        ch = conn.open_channel(rtr.OpenFlag.CLIENT, fac)
        m = conn.receive_message(ch, 5)
        assert m.msgtype == rtr.MsgType.OPENED, m
        chans.append(ch)
    # Wait for the server to be open: a probe transaction must commit.
    deadline = time.monotonic() + 10
    while True:
        conn.send_to_server(chans[0], bytes(msg_size), flags=rtr.SendFlag.ACCEPT)
        m = conn.receive_message(chans[0], 10)
        if m.msgtype == rtr.MsgType.ACCEPTED:
            break
        if time.monotonic() > deadline:
            raise RuntimeError("the bench server did not open")
        time.sleep(0.01)

    lats: List[List[float]] = [[] for _ in chans]
    start = time.perf_counter()
    until = start + seconds

    def run(i: int) -> None:
        lats[i] = client(conn, chans[i], until, bytearray(msg_size))

    if getattr(client, "is_async", False):
        # One thread, one loop, every client a task.
        lats = client(conn, chans, until, msg_size)  # type: ignore[arg-type,assignment]
    else:
        threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    elapsed = time.perf_counter() - start
    for ch in chans:
        conn.close_channel(ch)
    if server == "c":
        assert c_lib is not None
        c_lib.bench_stop()
    stop.set()
    for t in server_threads:
        t.join()
    if server == "c" and results != [rtr.Status.OK]:
        raise RuntimeError(f"C server ended with status {results}")
    all_lat = sorted(x for l in lats for x in l)
    return len(all_lat) / elapsed, all_lat


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--clients", default="1,4", help="client thread counts, comma separated")
    ap.add_argument("--msg-size", type=int, default=100)
    ap.add_argument("--journal", metavar="DIR", help="journal the process-wide node in DIR (default: no journal)")
    ap.add_argument("--rtr", metavar="PATH", help="the rtr binary for the reference figures")
    a = ap.parse_args()
    os.environ["RTR_JOURNAL_DIR"] = a.journal or "none"
    import rtr

    clients = [int(c) for c in a.clients.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="rtr-pybench-"))
    c_so: Optional[Path]
    try:
        c_so = build_c_server(tmp)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"(no C server: {e}; the C pairings are skipped)")
        c_so = None

    print(f"Python {sys.version.split()[0]}, rtr {rtr.__version__}, {os.cpu_count()} cores, "
          f"{a.msg_size}-byte one-message transactions, {'journal in ' + a.journal if a.journal else 'NO journal'}")
    print(f"{'pairing':28} {'clients':>7} {'tx/s':>9} {'p50 us':>8} {'p99 us':>8}")
    runs = [
        ("py-client/c-server", raw_client, "c"),
        ("py-methods/c-server", wrapped_client, "c"),
        ("py-tx/c-server", tx_client, "c"),
        ("py-async/c-server", _async_clients(False), "c"),
        ("py-async-tx/c-server", _async_clients(True), "c"),
        ("py-client/py-server", raw_client, "py"),
        ("py-tx/py-server", tx_client, "py"),
        ("py-async/py-server", _async_clients(False), "py"),
    ]
    for name, client, server in runs:
        if server == "c" and c_so is None:
            continue
        for n in clients:
            lib = load_c_server(c_so, tmp, f"{name.split('/')[0]}_{n}") if c_so is not None and server == "c" else None
            tps, lat = measure(f"{name}-{n}", n, a.seconds, a.msg_size, client, server, lib)
            print(f"{name:28} {n:>7} {tps:>9.0f} {percentile(lat, 50):>8.0f} {percentile(lat, 99):>8.0f}")

    rtr_bin = a.rtr or str(REPO / "target" / "release" / "rtr")
    if Path(rtr_bin).is_file():
        print(f"\nreference: {rtr_bin} bench --no-journal --servers 1 --server-threads 1 --clients {a.clients}")
        subprocess.run([rtr_bin, "bench", "--no-journal", "--servers", "1", "--server-threads", "1",
                        "--clients", a.clients, "--seconds", str(a.seconds), "--msg-size", str(a.msg_size)])
    else:
        print(f"\n(no {rtr_bin}: build it with `cargo build --release -p rtr-cli` for the Rust reference)")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
