"""Client transactions (RFC 3261 §17.1 with the Accepted state of RFC 6026 §8.4).

Each machine keeps its state rules in one table, `(state, trigger) -> new state`; a
trigger is a response class ("1xx", "2xx"...), a timer name ("A"...) or a transport
error. A response with no entry is absorbed and reported, never raised.

Machines do no I/O and build no events: they report through `out`, the transaction
layer's output port (`softswitch.sip.transaction.Output`), which turns reports into
events and arms timers on the layer's heap.
"""

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from .message import Request, Response, make_ack
from .timers import TimerConfig

if TYPE_CHECKING:
    from .transaction import Output, TransactionKey

CALLING = "CALLING"
TRYING = "TRYING"
PROCEEDING = "PROCEEDING"
COMPLETED = "COMPLETED"
ACCEPTED = "ACCEPTED"
TERMINATED = "TERMINATED"

PROVISIONAL = "1xx"
SUCCESS = "2xx"  # INVITE only: RFC 6026 treats it apart from other finals
FAILURE = "300-699"
FINAL = "200-699"  # non-INVITE
TRANSPORT_ERROR = "transport error"


def _on_transport_error(*states: str) -> dict[tuple[str, str], str]:
    return {(state, TRANSPORT_ERROR): TERMINATED for state in states}


INVITE_CLIENT_TRANSITIONS: dict[tuple[str, str], str] = {
    (CALLING, "A"): CALLING,
    (CALLING, "B"): TERMINATED,
    (CALLING, PROVISIONAL): PROCEEDING,
    (CALLING, SUCCESS): ACCEPTED,
    (CALLING, FAILURE): COMPLETED,
    (PROCEEDING, PROVISIONAL): PROCEEDING,
    (PROCEEDING, SUCCESS): ACCEPTED,
    (PROCEEDING, FAILURE): COMPLETED,
    (COMPLETED, FAILURE): COMPLETED,  # retransmitted final: ACK again, TU not told
    (COMPLETED, "D"): TERMINATED,
    (ACCEPTED, SUCCESS): ACCEPTED,  # retransmission or another fork: the TU ACKs it
    (ACCEPTED, "M"): TERMINATED,
    **_on_transport_error(CALLING, PROCEEDING, COMPLETED, ACCEPTED),
}

NON_INVITE_CLIENT_TRANSITIONS: dict[tuple[str, str], str] = {
    (TRYING, "E"): TRYING,
    (TRYING, "F"): TERMINATED,
    (TRYING, PROVISIONAL): PROCEEDING,
    (TRYING, FINAL): COMPLETED,
    (PROCEEDING, "E"): PROCEEDING,
    (PROCEEDING, "F"): TERMINATED,
    (PROCEEDING, PROVISIONAL): PROCEEDING,
    (PROCEEDING, FINAL): COMPLETED,
    (COMPLETED, FINAL): COMPLETED,  # retransmitted final: absorbed
    (COMPLETED, "K"): TERMINATED,
    **_on_transport_error(TRYING, PROCEEDING, COMPLETED),
}

RETRANSMISSION_TIMERS = ("A", "E")


class ClientTransaction(ABC):
    """What both client machines hold: the request, where it goes, state and timers."""

    __slots__ = ("key", "request", "destination", "reliable", "config", "state",
                 "timers", "_data", "_interval")

    transitions: dict[tuple[str, str], str]
    initial_state: str

    def __init__(self, key: "TransactionKey", request: Request, destination: Any,
                 reliable: bool, config: TimerConfig):
        self.key = key
        self.request = request
        self.destination = destination
        self.reliable = reliable
        self.config = config
        self.state = self.initial_state
        self.timers: dict = {}  # owned by the layer's TimerHeap
        self._data = bytes(request)  # serialised once, re-sent as is
        self._interval = config.t1

    def _advance(self, trigger: str) -> str | None:
        """Apply the table; None (state unchanged) when the trigger has no entry."""
        new_state = self.transitions.get((self.state, trigger))
        if new_state is not None:
            self.state = new_state
        return new_state

    def _release(self) -> None:
        """Final: nothing is re-sent any more. The parsed request is let go, since
        thousands of transactions wait out Timers D, K and M at a time."""
        self.request = None
        self._data = b""

    def _wait_then(self, timer: str, wait: float, now: float, out: "Output") -> None:
        """Arm `timer`, or fire it at once when its wait is zero (reliable transports)."""
        if wait > 0:
            out.arm(self, timer, now + wait)
        else:
            self.fire(timer, now, out)

    def transport_error(self, out: "Output") -> None:
        if self._advance(TRANSPORT_ERROR) is not None:
            out.transport_failed(self)
            out.terminated(self)

    def abandon(self, out: "Output") -> None:
        """The TU ends the transaction early, whatever its state."""
        self.state = TERMINATED
        out.terminated(self)

    @abstractmethod
    def fire(self, timer: str, now: float, out: "Output") -> None:
        """Run the effect of one of this machine's timers (each subclass has its own)."""


class InviteClientTransaction(ClientTransaction):
    """RFC 3261 §17.1.1 / Figure 5, with RFC 6026's Accepted state and Timer M."""

    __slots__ = ("_ack",)

    transitions = INVITE_CLIENT_TRANSITIONS
    initial_state = CALLING

    def start(self, now: float, out: "Output") -> None:
        out.send(self, self._data)
        if not self.reliable:
            self._interval = self.config.A
            out.arm(self, "A", now + self._interval)
        out.arm(self, "B", now + self.config.B)

    def receive_response(self, response: Response, now: float, out: "Output") -> None:
        status = response.status
        trigger = PROVISIONAL if status < 200 else SUCCESS if status < 300 else FAILURE
        previous = self.state
        if self._advance(trigger) is None:
            out.absorbed(self, response, f"{trigger} response in {previous}")
            return
        if previous == COMPLETED:
            out.send(self, self._ack)
            return
        if previous in (CALLING, PROCEEDING):
            # B only guards Calling: once the peer answers, Timer C (the proxy's) or
            # the TU's CANCEL bounds the wait.
            out.cancel(self, "A")
            out.cancel(self, "B")
        if trigger == FAILURE:
            # The transaction, not the TU, ACKs a non-2xx (§17.1.1.3).
            self._ack = bytes(make_ack(self.request, response))
            self._release()
            out.send(self, self._ack)
            out.response_received(self, response)
            self._wait_then("D", 0.0 if self.reliable else self.config.D, now, out)
            return
        out.response_received(self, response)
        if trigger == SUCCESS and previous != ACCEPTED:
            self._release()
            out.arm(self, "M", now + self.config.M)

    def fire(self, timer: str, now: float, out: "Output") -> None:
        if self._advance(timer) is None:
            return
        if timer == "A":
            out.send(self, self._data)
            self._interval *= 2  # no cap: B bounds it
            out.arm(self, "A", now + self._interval)
        elif timer == "B":
            out.timed_out(self)
            out.terminated(self)
        else:  # D, M
            out.terminated(self)


class NonInviteClientTransaction(ClientTransaction):
    """RFC 3261 §17.1.2 / Figure 6."""

    __slots__ = ()

    transitions = NON_INVITE_CLIENT_TRANSITIONS
    initial_state = TRYING

    def start(self, now: float, out: "Output") -> None:
        out.send(self, self._data)
        if not self.reliable:
            self._interval = self.config.E
            out.arm(self, "E", now + self._interval)
        out.arm(self, "F", now + self.config.F)

    def receive_response(self, response: Response, now: float, out: "Output") -> None:
        trigger = PROVISIONAL if response.status < 200 else FINAL
        previous = self.state
        if self._advance(trigger) is None:
            out.absorbed(self, response, f"{trigger} response in {previous}")
            return
        if previous == COMPLETED:
            return
        out.response_received(self, response)
        if trigger == FINAL:
            self._release()
            out.cancel(self, "E")
            out.cancel(self, "F")
            self._wait_then("K", 0.0 if self.reliable else self.config.K, now, out)

    def fire(self, timer: str, now: float, out: "Output") -> None:
        previous = self.state
        if self._advance(timer) is None:
            return
        if timer == "E":
            out.send(self, self._data)
            # A provisional response means the server is alive: back off to T2 at once.
            if previous == PROCEEDING:
                self._interval = self.config.t2
            else:
                self._interval = min(2 * self._interval, self.config.t2)
            out.arm(self, "E", now + self._interval)
        elif timer == "F":
            out.timed_out(self)
            out.terminated(self)
        else:  # K
            out.terminated(self)
