"""concurrent_server.py: a pool of concurrent servers. NUM_SERVERS threads
each open one server channel for the SAME key range (one partition with
concurrent servers), and NUM_CLIENTS client threads run transactions against
it at the same time.

RTR gives each free server channel at most one transaction at a time, so
the work spreads over the pool. The program checks that every transaction
committed exactly once, on exactly one server, and that the clients saw as
many commits as the servers.

Voting shortcuts: clients accept with their only message
(``send(..., accept=True)``, RTR_F_SEN_ACCEPT); servers are opened with
EXPLICIT_ACCEPT, and ``rtr.serve`` votes with the reply (RTR_F_REP_ACCEPT).

Run:  python examples/python/concurrent_server.py

Output (per-server counts vary and go to stderr):
    clients: committed=400 rejected=0
    servers: committed=400 rejected=0
    exactly_once=400 duplicates=0 missing=0
    several_servers=yes
"""

from __future__ import annotations

import collections
import struct
import sys
import threading
from typing import Counter, Dict, List

import rtr

FACILITY = "EXAMPLE_PY_POOL"
NUM_SERVERS = 4
NUM_CLIENTS = 4
TX_PER_CLIENT = 100


def main() -> int:
    conn = rtr.Connection()
    keys = rtr.KeySegment(rtr.KeyType.UNSIGNED, length=4, offset=0, low=0, high=9999)
    lock = threading.Lock()
    done_by: Counter[bytes] = collections.Counter()  # request id -> commits seen by servers
    per_server: List[int] = [0] * NUM_SERVERS
    stop = threading.Event()
    ready = threading.Barrier(NUM_SERVERS + 1)

    def server(n: int) -> None:
        pending: Dict[str, bytes] = {}

        def handler(msg: rtr.Message) -> bytes:
            pending[str(msg.tid)] = msg.data[4:]
            return b"done " + msg.data[4:]

        def on_outcome(msg: rtr.Message) -> None:
            request = pending.pop(str(msg.tid), None)
            if msg.msgtype == rtr.MsgType.ACCEPTED and request is not None:
                with lock:
                    done_by[request] += 1
                    per_server[n] += 1

        with conn.open_server(FACILITY, keys, flags=rtr.OpenFlag.EXPLICIT_ACCEPT) as ch:
            ready.wait()
            rtr.serve(ch, handler, stop=stop, on_outcome=on_outcome)

    client_committed = [0] * NUM_CLIENTS
    client_rejected = [0] * NUM_CLIENTS

    def client(c: int) -> None:
        with conn.open_client(FACILITY) as ch:
            for i in range(TX_PER_CLIENT):
                request = b"c%d-t%d" % (c, i)
                try:
                    with ch.transaction(timeout_ms=10_000) as tx:
                        tx.send(struct.pack("=I", (c * TX_PER_CLIENT + i) % 10000) + request, accept=True)
                    if [r.data for r in tx.late_replies] != [b"done " + request]:
                        raise RuntimeError(f"{request!r}: replies {tx.late_replies!r}")
                    client_committed[c] += 1
                except rtr.Rejected as e:
                    print(f"{request.decode()} rejected: {e}", file=sys.stderr)
                    client_rejected[c] += 1

    servers = [threading.Thread(target=server, args=(n,)) for n in range(NUM_SERVERS)]
    for t in servers:
        t.start()
    ready.wait()
    clients = [threading.Thread(target=client, args=(c,)) for c in range(NUM_CLIENTS)]
    for t in clients:
        t.start()
    for t in clients:
        t.join()
    stop.set()
    for t in servers:
        t.join()

    total = NUM_CLIENTS * TX_PER_CLIENT
    committed = sum(client_committed)
    served = sum(per_server)
    once = sum(1 for v in done_by.values() if v == 1)
    dups = sum(1 for v in done_by.values() if v > 1)
    missing = total - len(done_by)
    print(f"per-server commits: {per_server}", file=sys.stderr)
    print(f"clients: committed={committed} rejected={sum(client_rejected)}")
    print(f"servers: committed={served} rejected=0")
    print(f"exactly_once={once} duplicates={dups} missing={missing}")
    several = sum(1 for n in per_server if n > 0) > 1
    print(f"several_servers={'yes' if several else 'no'}")
    ok = committed == served == once == total and dups == 0 and missing == 0 and several
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
