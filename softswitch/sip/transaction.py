"""The SIP transaction layer (RFC 3261 §17), sans-IO.

`TransactionLayer` matches messages to transactions, runs the four machines
(`transaction_client`, `transaction_server`) and returns what must happen as one typed
event stream. It never touches a socket or a clock: every input takes `now`, and
`get_timer()` / `handle_timer(now)` expose the deadlines (the aioquic shape).

Addresses are opaque: `source` and `destination` are whatever the edge passes in
(the edge uses (transport, host, port) tuples) and come back unchanged in
`SendMessage`. Responses of a server transaction go to `response_destination(request,
source)`, a callable given to the layer once (the edge's: the packet's source,
as RFC 3581 rport does); by default responses go back to `source`. It is called once
per new server transaction, never for retransmissions. A request that matches a live
server transaction from another source is absorbed, never answered.
"""

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, Union

from .errors import LocalProtocolError, RemoteProtocolError
from .fields import BRANCH_MAGIC
from .message import Message, Request, Response
from .timers import TimerConfig, TimerHeap
from .transaction_client import (
    RETRANSMISSION_TIMERS as CLIENT_RETRANSMISSION_TIMERS,
    ClientTransaction,
    InviteClientTransaction,
    NonInviteClientTransaction,
)
from .transaction_server import (
    RETRANSMISSION_TIMERS as SERVER_RETRANSMISSION_TIMERS,
    InviteServerTransaction,
    NonInviteServerTransaction,
    ServerTransaction,
)

CLIENT = "client"
SERVER = "server"
UNRELIABLE_TRANSPORTS = frozenset(("UDP",))


def new_branch() -> str:
    """A fresh RFC 3261 branch: the magic cookie and 80 random bits."""
    return BRANCH_MAGIC + os.urandom(10).hex()


class TransactionKey(NamedTuple):
    """Identifies one transaction; the TU passes it back as it got it.

    `origin` is the top Via sent-by for a server transaction, the RFC 2543 match
    values (Request-URI, From tag, Call-ID, CSeq number, top Via) when the peer's branch
    lacks the magic cookie (then `branch` is None), and () for a client transaction.
    An ACK matches under the INVITE's key.
    """

    role: str  # CLIENT or SERVER
    method: str
    branch: str | None
    origin: tuple


# -- events --------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SendMessage:
    """The edge must write `data` to `destination` (a transport failure there is
    reported back with `transport_error(key, now)`)."""

    data: bytes
    destination: Any
    reliable: bool
    key: TransactionKey


@dataclass(frozen=True, slots=True)
class RequestReceived:
    """A new request: a server transaction `key` now waits for the TU's responses."""

    key: TransactionKey
    request: Request
    source: Any


@dataclass(frozen=True, slots=True)
class AckReceived:
    """An ACK for the TU: for a 2xx (key None: it matched no transaction, RFC 3261
    §17.2.3) or one matched in the Accepted state of an INVITE server (RFC 6026)."""

    key: TransactionKey | None
    request: Request
    source: Any


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    """A provisional or final response for the TU (retransmitted finals are not
    repeated, except 2xx to an INVITE in the Accepted state so the TU re-ACKs)."""

    key: TransactionKey
    response: Response


@dataclass(frozen=True, slots=True)
class StrayResponse:
    """A response that matches no client transaction (a proxy forwards a stray 2xx
    statelessly, RFC 3261 §16.7 / §18.1.2)."""

    response: Response


@dataclass(frozen=True, slots=True)
class TransactionTimedOut:
    """Timer B or F (the TU answers itself with 408), or Timer H (no ACK came)."""

    key: TransactionKey


@dataclass(frozen=True, slots=True)
class TransportFailed:
    """The transport could not deliver for this transaction (RFC 3261 §17.1.4, §17.2.4)."""

    key: TransactionKey


@dataclass(frozen=True, slots=True)
class TransactionTerminated:
    """The transaction is gone; its key no longer matches anything."""

    key: TransactionKey


@dataclass(frozen=True, slots=True)
class MessageAbsorbed:
    """A message the current state has no rule for was dropped (a late response, an
    ACK before the final, a TU response after the final...). For logs and metrics."""

    key: TransactionKey | None
    message: Message
    reason: str


@dataclass(frozen=True, slots=True)
class TimerFailed:
    """Firing a timer of `key` raised (`error`); the transaction was dropped so the
    other timers due in the same run still fire."""

    key: TransactionKey
    error: Exception


Event = Union[SendMessage, RequestReceived, AckReceived, ResponseReceived, StrayResponse,
              TransactionTimedOut, TransportFailed, TransactionTerminated, MessageAbsorbed,
              TimerFailed]

Transaction = Union[ClientTransaction, ServerTransaction]


class Output:
    """The port the machines report through: it builds the events and keeps the timer
    heap and the transaction table in step with what the machines decide."""

    __slots__ = ("events", "_timers", "_table")

    def __init__(self, timers: TimerHeap, table: dict[TransactionKey, Transaction]):
        self.events: list[Event] = []
        self._timers = timers
        self._table = table

    def begin(self) -> "Output":
        """Start a call with an empty buffer, whatever an earlier call left there."""
        self.events.clear()
        return self

    def take(self) -> list[Event]:
        events, self.events = self.events, []
        return events

    def request_received(self, txn: Transaction, source: Any) -> None:
        self.events.append(RequestReceived(txn.key, txn.request, source))

    def send(self, txn: Transaction, data: bytes) -> None:
        self.events.append(SendMessage(data, txn.destination, txn.reliable, txn.key))

    def response_received(self, txn: Transaction, response: Response) -> None:
        self.events.append(ResponseReceived(txn.key, response))

    def ack_received(self, txn: Transaction, ack: Request, source: Any) -> None:
        self.events.append(AckReceived(txn.key, ack, source))

    def timed_out(self, txn: Transaction) -> None:
        self.events.append(TransactionTimedOut(txn.key))

    def transport_failed(self, txn: Transaction) -> None:
        self.events.append(TransportFailed(txn.key))

    def absorbed(self, txn: Transaction | None, message: Message, reason: str) -> None:
        self.events.append(MessageAbsorbed(txn.key if txn else None, message, reason))

    def terminated(self, txn: Transaction) -> None:
        self._timers.cancel_all(txn)
        del self._table[txn.key]
        self.events.append(TransactionTerminated(txn.key))

    def arm(self, txn: Transaction, timer: str, deadline: float) -> None:
        self._timers.arm(txn, timer, deadline)

    def cancel(self, txn: Transaction, timer: str) -> None:
        self._timers.cancel(txn, timer)


def _same_source(request: Request, source: Any) -> Any:
    return source


class TransactionLayer:
    """All client and server transactions of one SIP element."""

    def __init__(self, config: TimerConfig = TimerConfig(), *,
                 response_destination: Callable[[Request, Any], Any] = _same_source):
        self.config = config
        self._response_destination = response_destination
        self._transactions: dict[TransactionKey, Transaction] = {}
        self._timers = TimerHeap()
        self._out = Output(self._timers, self._transactions)

    def __len__(self) -> int:
        """Live transactions, client and server."""
        return len(self._transactions)

    def state(self, key: TransactionKey) -> str | None:
        """The RFC state name of a live transaction; None once it is terminated."""
        txn = self._transactions.get(key)
        return None if txn is None else txn.state

    # -- server side -------------------------------------------------------------
    def receive_request(self, request: Request, source: Any, now: float, *,
                        reliable: bool | None = None) -> list[Event]:
        """Match a request (RFC 3261 §17.2.3) and run it through its transaction.

        `reliable` defaults to what the top Via transport says (only UDP is not).
        """
        out = self._out.begin()
        try:
            key = server_key(request)
        except RemoteProtocolError as exc:
            out.absorbed(None, request, f"cannot match: {exc}")
            return out.take()
        txn = self._transactions.get(key)
        if txn is not None and source != txn.source:
            # Same branch and sent-by from another address: not a retransmission of
            # this request (those come from where it came), and answering it would
            # send our response to the first sender again (reflection).
            out.absorbed(None, request, "transaction match from another source")
        elif request.method == "ACK":
            if txn is None or not _legacy_ack_matches(txn, request):
                return [AckReceived(None, request, source)]
            txn.receive_ack(request, source, now, out)
        elif txn is not None:
            if _legacy_to_tag_matches(txn, request):
                txn.receive_retransmission(request, now, out)
            else:
                out.absorbed(None, request, "RFC 2543 match differs only by To tag")
        else:
            kind = InviteServerTransaction if request.method == "INVITE" \
                else NonInviteServerTransaction
            if reliable is None:
                reliable = request.top_via.transport not in UNRELIABLE_TRANSPORTS
            destination = self._response_destination(request, source)
            txn = kind(key, request, source, destination, reliable, self.config)
            self._transactions[key] = txn
            out.request_received(txn, source)
            txn.start(now, out)
        return out.take()

    def find_invite_server_for_cancel(self, cancel: Request) -> TransactionKey | None:
        """The INVITE server transaction a CANCEL targets (RFC 3261 §9.2), if alive."""
        try:
            key = server_key(cancel)._replace(method="INVITE")
        except RemoteProtocolError:
            return None
        txn = self._transactions.get(key)
        if txn is None or not _legacy_to_tag_matches(txn, cancel):
            return None
        return key

    def send_response(self, key: TransactionKey, response: Response,
                      now: float) -> list[Event]:
        """Send the TU's response in server transaction `key`."""
        txn = self._transactions.get(key)
        out = self._out.begin()
        if not isinstance(txn, ServerTransaction):
            # Usually a race: the transaction timed out while the TU was working.
            out.absorbed(None, response, "no such server transaction")
        else:
            txn.send_response(response, now, out)
        return out.take()

    # -- client side -------------------------------------------------------------
    def send_request(self, request: Request, destination: Any, reliable: bool,
                     now: float) -> tuple[TransactionKey, list[Event]]:
        """Start a client transaction. The caller has put a top Via with a fresh
        branch (`new_branch()`); an ACK is not a transaction and is refused."""
        if request.method == "ACK":
            raise LocalProtocolError("ACK is sent without a client transaction")
        try:
            via = request.top_via
        except RemoteProtocolError as exc:
            raise LocalProtocolError("a request needs its top Via before sending") from exc
        if not via.rfc3261_branch:
            raise LocalProtocolError("the top Via needs a z9hG4bK branch: use new_branch()")
        key = TransactionKey(CLIENT, request.method, via.branch, ())
        if key in self._transactions:
            raise LocalProtocolError(f"branch {via.branch} is already in use")
        kind = InviteClientTransaction if request.method == "INVITE" \
            else NonInviteClientTransaction
        txn = kind(key, request, destination, reliable, self.config)
        self._transactions[key] = txn
        out = self._out.begin()
        txn.start(now, out)
        return key, out.take()

    def receive_response(self, response: Response, now: float) -> list[Event]:
        """Match a response (RFC 3261 §17.1.3: top Via branch and CSeq method)."""
        out = self._out.begin()
        try:
            key = TransactionKey(CLIENT, response.cseq.method, response.top_via.branch, ())
        except RemoteProtocolError as exc:
            out.absorbed(None, response, f"cannot match: {exc}")
            return out.take()
        txn = self._transactions.get(key)
        if txn is None:
            return [StrayResponse(response)]
        txn.receive_response(response, now, out)
        return out.take()

    # -- both --------------------------------------------------------------------
    def transport_error(self, key: TransactionKey, now: float) -> list[Event]:
        """The edge could not send for `key`: tell the TU and terminate."""
        txn = self._transactions.get(key)
        out = self._out.begin()
        if txn is not None:
            txn.transport_error(out)
        return out.take()

    def terminate(self, key: TransactionKey) -> list[Event]:
        """Drop a transaction now, timers and all (the TU gave up on it)."""
        txn = self._transactions.get(key)
        if txn is None:
            return []
        out = self._out.begin()
        txn.abandon(out)
        return out.take()

    def stop_retransmissions(self, key: TransactionKey) -> None:
        """Cancel Timer A, E or G of `key`; the timeout and wait timers still run."""
        txn = self._transactions.get(key)
        if txn is not None:
            for timer in CLIENT_RETRANSMISSION_TIMERS + SERVER_RETRANSMISSION_TIMERS:
                self._timers.cancel(txn, timer)

    def get_timer(self) -> float | None:
        """The earliest deadline over all transactions, or None."""
        return self._timers.next_deadline()

    def handle_timer(self, now: float) -> list[Event]:
        """Fire every timer due at `now`, earliest first; none fires early."""
        out = self._out.begin()
        for txn, timer in self._timers.pop_due(now):
            try:
                txn.fire(timer, now, out)
            except Exception as exc:  # noqa: BLE001 - one machine must not stop the run
                out.events.append(TimerFailed(txn.key, exc))
                if txn.key in self._transactions:
                    txn.abandon(out)
        return out.take()


# -- matching ------------------------------------------------------------------------

def server_key(request: Request) -> TransactionKey:
    """RFC 3261 §17.2.3: branch + sent-by + method (ACK under INVITE); for a branch
    without the magic cookie, the RFC 2543 values. The To tag of an RFC 2543 match
    is checked apart, since an ACK carries the tag of our response, not the INVITE's."""
    via = request.top_via
    method = "INVITE" if request.method == "ACK" else request.method
    if via.rfc3261_branch:
        return TransactionKey(SERVER, method, via.branch, via.sent_by)
    legacy = (request.uri, request.from_tag, request.call_id, request.cseq.number, str(via))
    return TransactionKey(SERVER, method, None, legacy)


def _legacy_to_tag_matches(txn: Transaction, request: Request) -> bool:
    return txn.key.branch is not None or request.to_tag == txn.to_tag


def _legacy_ack_matches(txn: Transaction, ack: Request) -> bool:
    if txn.key.branch is not None:
        return True
    return txn.final_status is not None and ack.to_tag == txn.final_to_tag
