"""Server transactions (RFC 3261 §17.2 with the Accepted state of RFC 6026 §8.7).

As on the client side, each machine keeps its state rules in one table,
`(state, trigger) -> new state`. Triggers are a retransmitted request, an ACK, a
response class handed down by the TU, a timer name or a transport error. A message
with no entry is absorbed and reported through `out`, never raised.
"""

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from .amplification import fit_bytes
from .message import Request, Response, make_response
from .timers import TimerConfig

if TYPE_CHECKING:
    from .transaction import Output, TransactionKey

TRYING = "TRYING"
PROCEEDING = "PROCEEDING"
COMPLETED = "COMPLETED"
CONFIRMED = "CONFIRMED"
ACCEPTED = "ACCEPTED"
TERMINATED = "TERMINATED"

RETRANSMISSION = "request retransmission"
ACK = "ACK"
PROVISIONAL = "1xx"
SUCCESS = "2xx"  # INVITE only: RFC 6026 treats it apart from other finals
FAILURE = "300-699"
FINAL = "200-699"  # non-INVITE
TRANSPORT_ERROR = "transport error"
TRYING_TIMER = "trying"  # not an RFC letter: the 200 ms before our own 100 Trying


def _on_transport_error(*states: str) -> dict[tuple[str, str], str]:
    return {(state, TRANSPORT_ERROR): TERMINATED for state in states}


INVITE_SERVER_TRANSITIONS: dict[tuple[str, str], str] = {
    (PROCEEDING, RETRANSMISSION): PROCEEDING,  # re-send the last provisional
    (PROCEEDING, TRYING_TIMER): PROCEEDING,
    (PROCEEDING, PROVISIONAL): PROCEEDING,
    (PROCEEDING, SUCCESS): ACCEPTED,
    (PROCEEDING, FAILURE): COMPLETED,
    (COMPLETED, RETRANSMISSION): COMPLETED,  # re-send the final
    (COMPLETED, "G"): COMPLETED,
    (COMPLETED, ACK): CONFIRMED,
    (COMPLETED, "H"): TERMINATED,
    (CONFIRMED, RETRANSMISSION): CONFIRMED,  # a late copy of the INVITE: absorbed
    (CONFIRMED, ACK): CONFIRMED,  # absorbed
    (CONFIRMED, "I"): TERMINATED,
    (ACCEPTED, RETRANSMISSION): ACCEPTED,  # absorbed: 2xx retransmission is the TU's
    (ACCEPTED, ACK): ACCEPTED,  # passed to the TU
    (ACCEPTED, SUCCESS): ACCEPTED,  # the TU's 2xx retransmission, sent as is
    (ACCEPTED, "L"): TERMINATED,
    **_on_transport_error(PROCEEDING, COMPLETED, CONFIRMED, ACCEPTED),
}

NON_INVITE_SERVER_TRANSITIONS: dict[tuple[str, str], str] = {
    (TRYING, RETRANSMISSION): TRYING,  # absorbed: nothing to re-send yet
    (TRYING, PROVISIONAL): PROCEEDING,
    (TRYING, FINAL): COMPLETED,
    (PROCEEDING, RETRANSMISSION): PROCEEDING,  # re-send the last provisional
    (PROCEEDING, PROVISIONAL): PROCEEDING,
    (PROCEEDING, FINAL): COMPLETED,
    (COMPLETED, RETRANSMISSION): COMPLETED,  # re-send the final
    (COMPLETED, "J"): TERMINATED,
    **_on_transport_error(TRYING, PROCEEDING, COMPLETED),
}

RETRANSMISSION_TIMERS = ("G",)


class ServerTransaction(ABC):
    """What both server machines hold: the request (until the final response), where
    responses go, the last response's bytes (re-sent on retransmissions), state and
    timers. Once final, only bytes and strings stay: thousands of transactions wait
    out Timer J at a time, and parsed messages would keep the collector busy."""

    __slots__ = ("key", "request", "source", "destination", "reliable", "config", "state",
                 "timers", "to_tag", "final_status", "final_to_tag", "_last_data", "_interval")

    transitions: dict[tuple[str, str], str]
    initial_state: str

    def __init__(self, key: "TransactionKey", request: Request, source: Any,
                 destination: Any, reliable: bool, config: TimerConfig):
        self.key = key
        self.request = request
        self.source = source
        self.destination = destination  # where responses go, fixed at creation
        self.reliable = reliable
        self.config = config
        self.state = self.initial_state
        self.timers: dict = {}  # owned by the layer's TimerHeap
        # RFC 2543 matching (no branch cookie) compares To tags; RFC 3261 never needs it.
        self.to_tag = request.to_tag if key.branch is None else None
        self.final_status: int | None = None
        self.final_to_tag: str | None = None
        self._last_data: bytes | None = None
        self._interval = config.t1

    def _advance(self, trigger: str) -> str | None:
        """Apply the table; None (state unchanged) when the trigger has no entry."""
        new_state = self.transitions.get((self.state, trigger))
        if new_state is not None:
            self.state = new_state
        return new_state

    def _send_response(self, response: Response, out: "Output") -> None:
        data = bytes(response)
        if not self.reliable and self.request is not None:
            # An unverified UDP source gets at most AMPLIFICATION times its bytes.
            data = fit_bytes(response, data, self.request.wire_size)
        self._last_data = data
        if response.status >= 200:
            self.final_status = response.status
            if self.key.branch is None:
                self.final_to_tag = response.to_tag
            self.request = None
        out.send(self, self._last_data)

    def _wait_then(self, timer: str, wait: float, now: float, out: "Output") -> None:
        """Arm `timer`, or fire it at once when its wait is zero (reliable transports)."""
        if wait > 0:
            out.arm(self, timer, now + wait)
        else:
            self.fire(timer, now, out)

    def receive_retransmission(self, request: Request, now: float, out: "Output") -> None:
        previous = self.state
        if self._advance(RETRANSMISSION) is None:
            out.absorbed(self, request, f"retransmission in {previous}")
        elif previous in (PROCEEDING, COMPLETED) and self._last_data is not None:
            out.send(self, self._last_data)

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


class InviteServerTransaction(ServerTransaction):
    """RFC 3261 §17.2.1 / Figure 7, with RFC 6026's Accepted state and Timer L."""

    __slots__ = ()

    transitions = INVITE_SERVER_TRANSITIONS
    initial_state = PROCEEDING

    def start(self, now: float, out: "Output") -> None:
        out.arm(self, TRYING_TIMER, now + self.config.trying)

    def send_response(self, response: Response, now: float, out: "Output") -> None:
        status = response.status
        trigger = PROVISIONAL if status < 200 else SUCCESS if status < 300 else FAILURE
        previous = self.state
        if self._advance(trigger) is None:
            out.absorbed(self, response, f"{trigger} response from the TU in {previous}")
            return
        out.cancel(self, TRYING_TIMER)
        provisional_sent = self._last_data is not None
        self._send_response(response, out)
        if previous == PROCEEDING and trigger == SUCCESS:
            out.arm(self, "L", now + self.config.L)
        elif trigger == FAILURE:
            # Timer G exists for a client that stopped retransmitting on our
            # provisional (§17.1.1.2). One that saw none still retransmits its INVITE
            # (Timer A) and each copy is answered from Completed, so G would only
            # multiply what a forged source gets: a challenge to an unauthenticated
            # INVITE, answered before any 100, goes out once per request received.
            if not self.reliable and provisional_sent:
                self._interval = self.config.G
                out.arm(self, "G", now + self._interval)
            out.arm(self, "H", now + self.config.H)

    def receive_ack(self, ack: Request, source: Any, now: float, out: "Output") -> None:
        previous = self.state
        if self._advance(ACK) is None:
            out.absorbed(self, ack, f"ACK in {previous}")
        elif previous == COMPLETED:
            out.cancel(self, "G")
            out.cancel(self, "H")
            self._wait_then("I", 0.0 if self.reliable else self.config.I, now, out)
        elif previous == ACCEPTED:
            out.ack_received(self, ack, source)

    def fire(self, timer: str, now: float, out: "Output") -> None:
        if self._advance(timer) is None:
            return
        if timer == TRYING_TIMER:
            self._send_response(make_response(self.request, 100), out)
        elif timer == "G":
            out.send(self, self._last_data)
            self._interval = min(2 * self._interval, self.config.t2)
            out.arm(self, "G", now + self._interval)
        elif timer == "H":
            # No ACK ever came: a transaction failure for the TU (§17.2.1).
            out.timed_out(self)
            out.terminated(self)
        else:  # I, L
            out.terminated(self)


class NonInviteServerTransaction(ServerTransaction):
    """RFC 3261 §17.2.2 / Figure 8."""

    __slots__ = ()

    transitions = NON_INVITE_SERVER_TRANSITIONS
    initial_state = TRYING

    def start(self, now: float, out: "Output") -> None:
        """Nothing to do until the TU answers."""

    def send_response(self, response: Response, now: float, out: "Output") -> None:
        trigger = PROVISIONAL if response.status < 200 else FINAL
        previous = self.state
        if self._advance(trigger) is None:
            out.absorbed(self, response, f"{trigger} response from the TU in {previous}")
            return
        self._send_response(response, out)
        if trigger == FINAL:
            self._wait_then("J", 0.0 if self.reliable else self.config.J, now, out)

    def fire(self, timer: str, now: float, out: "Output") -> None:
        if self._advance(timer) is None:
            return
        out.terminated(self)  # J
