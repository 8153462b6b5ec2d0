"""A client transaction as a context manager."""

from __future__ import annotations

import time
from types import TracebackType
from typing import List, Optional, Type

from . import _rtr
from ._enums import MsgType, Status
from ._errors import InvalidChannel, Rejected, Timeout, WrongState
from ._message import Message
from ._rtr import Tid

#: How long leaving a transaction block on an exception waits for the
#: outcome of the reject when no ``outcome_timeout`` was given (seconds).
EXIT_WAIT = 10.0


class Transaction:
    """One client transaction on a channel::

        with ch.transaction(timeout_ms=5000) as tx:
            tx.send(request)
            reply = tx.receive()      # the server's reply (a Message)
        # here the transaction is committed

    * Entering starts the transaction (``rtr_start_tx`` with the timeout).
    * Leaving normally accepts it (unless ``send(accept=True)`` or
      :meth:`accept` already did) and waits for the outcome: ACCEPTED
      returns, REJECTED raises :class:`rtr.Rejected` with the status and the
      reason.
    * Leaving with an exception rejects it (when it can still be rejected),
      waits for the outcome and lets the exception through.
    * :meth:`reject` aborts on purpose: leaving then waits for the outcome
      and raises nothing.
    * :meth:`prepare` (``rtr_prepare_tx``) asks the servers to vote first,
      for a client that coordinates with another transaction manager.

    ``outcome_timeout`` bounds the wait for the outcome (seconds; None: as
    long as it takes, or ``EXIT_WAIT`` when leaving on an exception).
    After the block, ``outcome`` is the ACCEPTED or REJECTED message and
    ``accepted`` tells which.
    """

    def __init__(self, channel: "Channel", timeout_ms: Optional[int], outcome_timeout: Optional[float]) -> None:
        self.channel = channel
        self.timeout_ms = timeout_ms
        self.outcome_timeout = outcome_timeout
        self.outcome: Optional[Message] = None
        #: Replies that arrived while waiting for the outcome.
        self.late_replies: List[Message] = []
        self._voted = False
        self._rejected_by_us = False
        self._tid: Optional[Tid] = None

    @property
    def tid(self) -> Tid:
        if self._tid is None:
            raise WrongState("the transaction has not started")
        return self._tid

    @property
    def accepted(self) -> bool:
        return self.outcome is not None and self.outcome.msgtype == MsgType.ACCEPTED

    def __enter__(self) -> "Transaction":
        self.channel.start_tx(self.timeout_ms)
        self._tid = self.channel.tid
        return self

    def send(self, data: "Data", *, accept: bool = False) -> None:
        """Send a message of the transaction; ``accept=True`` makes it the last one and accepts."""
        self.channel.send(data, accept=accept)
        if accept:
            self._voted = True

    def receive(self, timeout: Optional[float] = None) -> Optional[Message]:
        """The next reply. Raises :class:`rtr.Rejected` if the transaction was
        rejected meanwhile; returns None once it is accepted (no reply can
        follow the outcome). Raises :class:`rtr.Timeout` after ``timeout`` s."""
        if self.outcome is not None:
            self._after_outcome()
            return None
        while True:
            msg = self.channel.receive(timeout)
            _check_not_closed(msg)
            if msg.tid != self._tid:
                continue  # an OPENED not waited for, or a late message of an earlier transaction
            if msg.msgtype in (MsgType.ACCEPTED, MsgType.REJECTED):
                self.outcome = msg
                self._after_outcome()
                return None
            return msg

    def prepare(self, *, reason: int = 0, data: "Data" = b"", timeout: Optional[float] = None) -> Message:
        """``rtr_prepare_tx``: ask every server to vote, and wait (at most
        ``timeout`` seconds) for ``MsgType.PREPARED``, which it returns: all
        voted yes, and the transaction is ready to commit; leaving the block
        accepts it (with ``reason`` standing, unless :meth:`accept` gives
        another). Raises :class:`rtr.Rejected` if a server voted no, and
        :class:`rtr.Timeout` if the votes did not come in time. Replies that
        arrive meanwhile go to ``late_replies``."""
        self.channel.prepare(reason=reason, data=data)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            msg = self.channel.receive(left)
            _check_not_closed(msg)
            if msg.tid != self._tid:
                continue
            if msg.msgtype == MsgType.PREPARED:
                return msg
            if msg.msgtype in (MsgType.ACCEPTED, MsgType.REJECTED):
                self.outcome = msg
                self._after_outcome()
                raise WrongState(f"transaction {self._tid} ended before it was prepared")
            if msg.msgtype == MsgType.REPLY:
                self.late_replies.append(msg)

    def accept(self, reason: int = 0) -> None:
        """Accept now (``rtr_accept_tx``) with a reason; leaving then only waits."""
        self.channel.accept(reason)
        self._voted = True

    def reject(self, reason: int = 0) -> None:
        """Abort on purpose (``rtr_reject_tx``); leaving then raises nothing."""
        self.channel.reject(reason)
        self._voted = True
        self._rejected_by_us = True

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if exc_type is not None:
            if self.outcome is None and not self._voted:
                try:
                    self.channel.reject()
                except WrongState:
                    pass  # the transaction is already over or accepted
            # Wait for the outcome, but never hold up the exception (a
            # Ctrl-C, say) for long: it goes on either way.
            try:
                self._wait_outcome(self.outcome_timeout if self.outcome_timeout is not None else EXIT_WAIT)
            except (Timeout, InvalidChannel):
                pass
            return
        if self.outcome is None and not self._voted:
            self.channel.accept()
        self._wait_outcome(self.outcome_timeout)
        if not self.accepted and not self._rejected_by_us:
            raise _rejected(self.outcome)

    def _after_outcome(self) -> None:
        """Raise Rejected for an outcome that was not ours to choose."""
        if not self.accepted and not self._rejected_by_us:
            raise _rejected(self.outcome)

    def _wait_outcome(self, timeout: Optional[float] = None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.outcome is None:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            msg = self.channel.receive(left)
            _check_not_closed(msg)
            if msg.tid != self._tid:
                continue
            if msg.msgtype in (MsgType.ACCEPTED, MsgType.REJECTED):
                self.outcome = msg
            elif msg.msgtype == MsgType.REPLY:
                self.late_replies.append(msg)


def _rejected(msg: Optional[Message]) -> Rejected:
    """The :class:`rtr.Rejected` for a REJECTED outcome message."""
    status = int(msg.status) if msg is not None and msg.status is not None else int(Status.REJECTED)
    reason = (msg.reason or 0) if msg is not None else 0
    tid = msg.tid if msg is not None else None
    err = Rejected(f"transaction {tid} rejected: {_rtr.error_text(status)} (reason {reason})", status, reason)
    err.outcome = msg
    return err


def _check_not_closed(msg: Message) -> None:
    if msg.msgtype == MsgType.CLOSED:
        from ._connection import _closed_error

        raise _closed_error(msg, f"channel {msg.channel} was closed by RTR")


# At the end (import cycles): the annotations above name these, and
# typing.get_type_hints looks them up here at run time.
from ._channel import Channel  # noqa: E402
from ._connection import Data  # noqa: E402
