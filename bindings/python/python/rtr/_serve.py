"""A small server loop: receive, call a handler, reply and vote."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Union

from ._channel import Channel
from ._enums import MsgType, OpenFlag
from ._errors import InvalidChannel, Timeout, WrongState
from ._message import Message
from ._rtr import Tid

log = logging.getLogger("rtr")

Handler = Callable[[Message], Union[bytes, bytearray, memoryview, str, None]]

#: How often ``serve`` looks at its ``stop`` event while idle (seconds).
STOP_POLL = 0.1
#: Once ``stop`` is set, how long ``serve`` still waits for the outcomes of
#: the transactions it holds (seconds).
STOP_DRAIN = 5.0


@dataclass
class ServeStats:
    """What :func:`rtr.serve` did."""

    messages: int = 0
    accepted: int = 0
    rejected: int = 0
    #: Transactions the handler rejected by raising.
    handler_errors: int = 0


def serve(
    channels: Union[Channel, Sequence[Channel]],
    handler: Handler,
    *,
    stop: Optional[threading.Event] = None,
    idle_timeout: Optional[float] = None,
    max_transactions: Optional[int] = None,
    on_outcome: Optional[Callable[[Message], None]] = None,
) -> ServeStats:
    """Serve transactions on one or several server channels (one receive over all).

    For every MSG1, MSG1_UNCERTAIN and MSGN, ``handler(msg)`` runs: what it
    returns (bytes or str) is sent back with ``rtr_reply_to_client``; None
    sends nothing. If it raises an ``Exception``, the transaction is rejected
    (with the exception's ``reason`` attribute if it has one) and the loop
    goes on. Votes: a channel opened without EXPLICIT_ACCEPT accepts
    implicitly (receiving again is the accept); with EXPLICIT_PREPARE the
    loop accepts on PREPARE; with EXPLICIT_ACCEPT it accepts once the handler
    returned for the transaction's message (replying with ACCEPT when there
    is a reply).

    The loop ends when ``stop`` is set, when no message arrived for
    ``idle_timeout`` seconds, after ``max_transactions`` outcomes, or when
    RTR closed every channel. Once ``stop`` is set it first waits (at most
    ``STOP_DRAIN`` seconds) for the outcome of each transaction it holds (a
    channel that got a message and not yet ACCEPTED or REJECTED), so that
    a transaction whose client heard "accepted" is counted here too. ``on_outcome(msg)`` sees each ACCEPTED and
    REJECTED message. Returns counts of what happened.
    """
    chans = [channels] if isinstance(channels, Channel) else list(channels)
    if not chans:
        raise ValueError("serve needs at least one channel")
    by_id = {c.id: c for c in chans}
    conn = chans[0].connection
    if any(c.connection is not conn for c in chans):
        raise ValueError("serve: all channels must belong to one connection")
    stats = ServeStats()
    voted: dict = {}  # channel id -> tid this loop voted on
    in_hand: dict = {}  # channel id -> tid presented there, its outcome not yet received
    drain_until: Optional[float] = None
    wait = STOP_POLL if stop is not None else idle_timeout
    idle = 0.0
    while by_id:
        if stop is not None and stop.is_set():
            # Stopped: the outcomes of the transactions in hand first (a
            # client may have heard "accepted" before this server did).
            if not in_hand:
                break
            if drain_until is None:
                drain_until = time.monotonic() + STOP_DRAIN
            elif time.monotonic() >= drain_until:
                break
        try:
            msg = conn.receive_message(list(by_id), wait)
        except Timeout:
            idle += wait or 0.0
            if idle_timeout is not None and idle >= idle_timeout:
                break
            continue
        except InvalidChannel:
            break  # every channel is gone
        idle = 0.0
        ch = by_id.get(msg.channel)
        if ch is None:
            continue
        mt = msg.msgtype
        if msg.is_data:
            stats.messages += 1
            in_hand[ch.id] = msg.tid
            _handle(ch, msg, handler, stats, voted)
        elif mt == MsgType.PREPARE:
            if voted.get(ch.id) != msg.tid:
                _vote(ch, msg.tid, voted)
        elif mt in (MsgType.ACCEPTED, MsgType.REJECTED):
            voted.pop(ch.id, None)
            in_hand.pop(ch.id, None)
            if mt == MsgType.ACCEPTED:
                stats.accepted += 1
            else:
                stats.rejected += 1
            if on_outcome is not None:
                on_outcome(msg)
            if max_transactions is not None and stats.accepted + stats.rejected >= max_transactions:
                break
        elif mt == MsgType.CLOSED:
            # RTR closed it; its owner still releases it (close_channel).
            del by_id[ch.id]
            in_hand.pop(ch.id, None)
    return stats


def _handle(ch: Channel, msg: Message, handler: Handler, stats: ServeStats, voted: dict) -> None:  # type: ignore[type-arg]
    try:
        result = handler(msg)
    except Exception as e:  # noqa: BLE001 - any failure of the handler rejects
        stats.handler_errors += 1
        reason = getattr(e, "reason", 0)
        log.debug("rtr.serve: handler raised %r; rejecting %s", e, msg.tid)
        if voted.get(ch.id) != msg.tid:
            voted[ch.id] = msg.tid
            try:
                ch.reject(reason if isinstance(reason, int) and reason >= 0 else 0)
            except WrongState:
                pass  # the transaction ended meanwhile
        return
    explicit = bool(ch.flags & OpenFlag.EXPLICIT_ACCEPT)
    must_vote = explicit and voted.get(ch.id) != msg.tid
    if result is not None:
        ch.reply(result, accept=must_vote)
        if must_vote:
            voted[ch.id] = msg.tid
    elif must_vote:
        _vote(ch, msg.tid, voted)


def _vote(ch: Channel, tid: Tid, voted: dict) -> None:  # type: ignore[type-arg]
    voted[ch.id] = tid
    try:
        ch.accept()
    except WrongState:
        pass  # already voted or over


__all__ = ["serve", "ServeStats"]
