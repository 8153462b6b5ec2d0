"""client.py: an RTR client in Python, with its server on a thread of the
same process, so the example runs alone on the embedded node.

The client opens a channel and runs NUM_TX transactions, each in a
``with ch.transaction(...)`` block: send a request (key in the first 4
bytes), read the reply, and leave the block, which accepts and waits for the
outcome (rtr.Rejected would be raised if RTR rejected it).

The server is ``rtr.serve`` on one server channel: its handler returns the
reply; the vote is implicit (receiving again accepts).

Run:  python examples/python/client.py
(The process-wide node keeps its journal in $RTR_JOURNAL_DIR, by default
./rtr-journal; RTR_JOURNAL_DIR=none runs without one.)

Output:
    client: committed=200 rejected=0
    server: committed=200 rejected=0 replies=200
"""

from __future__ import annotations

import struct
import sys
import threading

import rtr

FACILITY = "EXAMPLE_PY_CLIENT"
NUM_TX = 200
KEY_RANGE = (0, 999)


def main() -> int:
    conn = rtr.Connection()
    keys = rtr.KeySegment(rtr.KeyType.UNSIGNED, length=4, offset=0, low=KEY_RANGE[0], high=KEY_RANGE[1])
    replies = 0

    def handler(msg: rtr.Message) -> bytes:
        nonlocal replies
        (key,) = struct.unpack_from("=I", msg.data)
        replies += 1
        return b"ok %d " % key + msg.data[4:]

    with conn.open_server(FACILITY, keys) as srv:
        stop = threading.Event()
        stats: list = []
        server = threading.Thread(target=lambda: stats.append(rtr.serve(srv, handler, stop=stop)))
        server.start()

        committed = rejected = 0
        with conn.open_client(FACILITY) as ch:
            for i in range(NUM_TX):
                request = struct.pack("=I", i % (KEY_RANGE[1] + 1)) + b"request %d" % i
                try:
                    with ch.transaction(timeout_ms=10_000) as tx:
                        tx.send(request)
                        reply = tx.receive(timeout=10)
                        if reply is None or not reply.data.endswith(b"request %d" % i):
                            raise RuntimeError(f"transaction {i}: unexpected reply {reply!r}")
                    committed += 1
                except rtr.Rejected as e:
                    print(f"transaction {i} rejected: {e}", file=sys.stderr)
                    rejected += 1

        stop.set()
        server.join()
    s = stats[0]
    print(f"client: committed={committed} rejected={rejected}")
    print(f"server: committed={s.accepted} rejected={s.rejected} replies={replies}")
    return 0 if committed == NUM_TX == s.accepted == replies else 1


if __name__ == "__main__":
    sys.exit(main())
