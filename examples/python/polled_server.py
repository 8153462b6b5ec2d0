"""polled_server.py: ONE server thread serves several key ranges. It opens
one server channel per range and serves them all with a single
``receive_message`` over the list of its channels; ``msg.channel`` says
which channel (range) each message belongs to. Each channel carries its own
transaction, so the thread may be in the middle of several at once.

Two voting styles share the loop: ranges 0 and 1 vote implicitly (the next
receive over a list holding the channel is the accept); range 2 is opened
with EXPLICIT_PREPARE and answers MsgType.PREPARE with accept_tx.

Client threads (one channel each) send to every range in turn and check
that the reply came from the channel of the right range.

Why a list and not every channel: the clients live in the same process,
and receiving on every channel would take theirs too.

Run:  python examples/python/polled_server.py

Output:
    clients: committed=180 rejected=0
    server: range0=60 range1=60 range2=60 rejected=0 prepares=60
"""

from __future__ import annotations

import struct
import sys
import threading

import rtr

FACILITY = "EXAMPLE_PY_POLLED"
NUM_RANGES = 3
RANGE_SIZE = 100
EXPLICIT_RANGE = 2
NUM_CLIENTS = 3
TX_PER_CLIENT = 60


def main() -> int:
    conn = rtr.Connection()
    opened = threading.Event()
    stop = threading.Event()
    range_commits = [0] * NUM_RANGES
    counts = {"rejected": 0, "prepares": 0}

    def server() -> None:
        channels = []
        for r in range(NUM_RANGES):
            lo = r * RANGE_SIZE
            flags = rtr.OpenFlag.EXPLICIT_PREPARE if r == EXPLICIT_RANGE else 0
            keys = rtr.KeySegment(rtr.KeyType.UNSIGNED, length=4, offset=0, low=lo, high=lo + RANGE_SIZE - 1)
            # Faithful call: opens complete asynchronously...
            channels.append(conn.open_channel(rtr.OpenFlag.SERVER | flags, FACILITY, keys=[keys]))
        # ... and are collected from the same list, in any order.
        for _ in channels:
            m = conn.receive_message(channels, timeout=10)
            if m.msgtype != rtr.MsgType.OPENED:
                raise RuntimeError(f"open failed: {m!r}")
        opened.set()
        index = {ch: r for r, ch in enumerate(channels)}
        while not stop.is_set():
            try:
                m = conn.receive_message(channels, timeout=0.1)
            except rtr.Timeout:
                continue
            r = index[m.channel]
            if m.msgtype in (rtr.MsgType.MSG1, rtr.MsgType.MSG1_UNCERTAIN, rtr.MsgType.MSGN):
                (seq,) = struct.unpack_from("=I", m.data, 4)
                conn.reply_to_client(m.channel, struct.pack("=II", seq, r))
            elif m.msgtype == rtr.MsgType.PREPARE:
                counts["prepares"] += 1
                conn.accept_tx(m.channel)
            elif m.msgtype == rtr.MsgType.ACCEPTED:
                range_commits[r] += 1
            elif m.msgtype == rtr.MsgType.REJECTED:
                counts["rejected"] += 1
        for ch in channels:
            conn.close_channel(ch)

    committed = [0] * NUM_CLIENTS
    rejected = [0] * NUM_CLIENTS

    def client(c: int) -> None:
        with conn.open_client(FACILITY) as ch:
            for i in range(TX_PER_CLIENT):
                r = i % NUM_RANGES
                key = r * RANGE_SIZE + (c * 7 + i) % RANGE_SIZE
                try:
                    with ch.transaction(timeout_ms=10_000) as tx:
                        tx.send(struct.pack("=II", key, i))
                        reply = tx.receive(timeout=10)
                        assert reply is not None
                        seq, served_by = struct.unpack("=II", reply.data)
                        if (seq, served_by) != (i, r):
                            raise RuntimeError(f"client {c}: key {key} served by range {served_by}")
                    committed[c] += 1
                except rtr.Rejected as e:
                    print(f"client {c} tx {i} rejected: {e}", file=sys.stderr)
                    rejected[c] += 1

    srv = threading.Thread(target=server)
    srv.start()
    if not opened.wait(10):
        return 1
    clients = [threading.Thread(target=client, args=(c,)) for c in range(NUM_CLIENTS)]
    for t in clients:
        t.start()
    for t in clients:
        t.join()
    stop.set()
    srv.join()

    ranges = " ".join(f"range{r}={n}" for r, n in enumerate(range_commits))
    print(f"clients: committed={sum(committed)} rejected={sum(rejected)}")
    print(f"server: {ranges} rejected={counts['rejected']} prepares={counts['prepares']}")
    total = NUM_CLIENTS * TX_PER_CLIENT
    per_range = total // NUM_RANGES
    ok = sum(committed) == total and range_commits == [per_range] * NUM_RANGES and counts["prepares"] == per_range
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
