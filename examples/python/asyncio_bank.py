"""asyncio_bank.py: RTR on one asyncio loop: two servers and twenty
clients, all tasks of one thread, over the process-wide embedded node.

Each server is ``rtr.asyncio.serve`` on one key range of accounts with an
``async def`` handler (it deposits and replies with the new balance). Each
client task runs its deposits one transaction at a time in ``async with
ch.transaction()`` blocks: send, ``await`` the reply, leave the block, which
accepts and awaits the outcome. The tasks run concurrently: while one awaits
its outcome, the others send.

Run:  python examples/python/asyncio_bank.py
(The process-wide node keeps its journal in $RTR_JOURNAL_DIR, by default
./rtr-journal; RTR_JOURNAL_DIR=none runs without one.)

Output:
    clients: committed=200 rejected=0
    servers: committed=200 total=2000 both_ranges=yes
"""

from __future__ import annotations

import asyncio
import struct
import sys
from typing import Dict, List

import rtr
import rtr.asyncio

FACILITY = "EXAMPLE_PY_ASYNCIO"
CLIENTS = 20
DEPOSITS = 10
AMOUNT = 10


async def main() -> int:
    balances: Dict[int, int] = {}
    served: List[int] = [0, 0]
    async with rtr.asyncio.AsyncConnection(rtr.Connection()) as conn:

        def handler_for(server: int) -> rtr.asyncio.AsyncHandler:
            async def deposit(msg: rtr.Message) -> bytes:
                account, amount = struct.unpack_from("=II", msg.data)
                await asyncio.sleep(0)  # a database would be awaited here
                balances[account] = balances.get(account, 0) + amount
                served[server] += 1
                return struct.pack("=I", balances[account])

            return deposit

        servers = []
        for i, (lo, hi) in enumerate([(0, 49), (50, 99)]):
            keys = rtr.KeySegment(rtr.KeyType.UNSIGNED, length=4, offset=0, low=lo, high=hi)
            ch = await conn.open_server(FACILITY, keys)
            servers.append(asyncio.create_task(rtr.asyncio.serve(ch, handler_for(i))))

        async def client(n: int) -> int:
            committed = 0
            async with await conn.open_client(FACILITY) as ch:
                for i in range(DEPOSITS):
                    account = (n * 17 + i * 31) % 100
                    async with ch.transaction(timeout_ms=10_000) as tx:
                        tx.send(struct.pack("=II", account, AMOUNT))
                        reply = await tx.receive(timeout=10)
                        assert reply is not None and len(reply.data) == 4
                    committed += tx.accepted
            return committed

        results = await asyncio.gather(*(client(n) for n in range(CLIENTS)), return_exceptions=True)
        for task in servers:
            task.cancel()
        await asyncio.gather(*servers, return_exceptions=True)

    committed = sum(r for r in results if isinstance(r, int))
    failed = [r for r in results if not isinstance(r, int)]
    for e in failed:
        print(f"client failed: {e!r}", file=sys.stderr)
    print(f"clients: committed={committed} rejected={len(failed)}")
    both = "yes" if all(served) else "no"
    print(f"servers: committed={sum(served)} total={sum(balances.values())} both_ranges={both}")
    return 0 if not failed and committed == CLIENTS * DEPOSITS else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
