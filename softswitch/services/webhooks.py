"""Call-lifecycle webhooks (docs/webhooks.md): call events POSTed as JSON to the
configured URL and to the call's agent's own URL, signed, retried with backoff, never
in the way of the call.

`Webhooks.emit(event, call_id, data, agent=None)` is all the call path does: it builds
the body once, files one delivery per URL in a bounded queue and returns. Deliveries
go out through a `sender` port (`send(url, headers, body)`: a Deferred of the HTTP
status; edge.webhooks sends with twisted.web.client.Agent), at most `max_in_flight` at
a time. A 2xx delivers; anything else (another status, a refused connection, a
timeout) is retried after `backoff[attempt - 1]` seconds, up to `max_attempts` tries,
then the delivery has `failed`. When `max_pending` deliveries wait already, the
oldest waiting one is dropped (`dropped`) for the new one: a receiver that is down
for long costs bounded memory, and the newest events win.

Every try is signed anew (the timestamp is the try's), Stripe-style:

    Softswitch-Timestamp: 1733241600
    Softswitch-Signature: v1=<hex HMAC-SHA256(secret, "1733241600." + body)>

`deliveries()` lists the latest `history` deliveries with their state (pending,
delivered, failed, dropped), attempts, last status or error and times: the API's
/v1/webhooks/deliveries. Nothing here reads a wall clock: the injected `clock` gives
both the times and the retry timers.
"""

import dataclasses
import hashlib
import hmac
import json
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Protocol

from twisted.logger import Logger

log = Logger()

EVENTS = ("call.ringing", "call.answered", "call.transferred", "call.ended", "call.amd")
DEFAULT_BACKOFF = (1.0, 4.0, 15.0, 60.0, 300.0)  # seconds before the 2nd, 3rd... try
TIMESTAMP_HEADER = "Softswitch-Timestamp"
SIGNATURE_HEADER = "Softswitch-Signature"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for `body` sent at `timestamp` (epoch seconds)."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify(secret: str, timestamp: str, signature: str, body: bytes, now: float,
           tolerance: float = 300.0) -> bool:
    """A receiver's check: the signature matches and the timestamp is recent."""
    try:
        stamp = int(timestamp)
    except ValueError:
        return False
    if abs(now - stamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, stamp, body), signature)


_SUMMARY = ("direction", "caller", "callee", "did", "trunk", "agent", "start_at", "ring_at",
            "answer_at")


def call_summary(record, **extra) -> dict:
    """What a call event says of the call (a services.dialogs.CallRecord)."""
    return {**{name: getattr(record, name) for name in _SUMMARY}, **extra}


def emit_for(webhooks, event: str, record, **extra) -> None:
    """`event` of the call of `record`, to the global URL and its agent's."""
    if webhooks is NO_WEBHOOKS:
        return  # (nothing to build)
    webhooks.emit(event, record.call_id, call_summary(record, **extra), record.agent)


def reporting_ends(on_call_end, webhooks):
    """An on_call_end that also sends `call.ended` with the whole call record
    (`on_call_end` itself without webhooks: a record is not copied for nothing)."""
    if webhooks is NO_WEBHOOKS:
        return on_call_end

    def ended(record) -> None:
        if on_call_end is not None:
            on_call_end(record)
        webhooks.emit("call.ended", record.call_id, dataclasses.asdict(record), record.agent)
    return ended


@dataclass(eq=False)
class Delivery:
    id: int
    url: str
    event: str
    call_id: str
    body: bytes
    created_at: float
    state: str = "pending"  # pending | delivered | failed | dropped
    attempts: int = 0
    next_at: float | None = None
    last_status: int | None = None
    last_error: str | None = None
    finished_at: float | None = None
    sending: bool = False
    timer: object = None

    def to_dict(self) -> dict:
        return {"id": self.id, "url": self.url, "event": self.event,
                "call_id": self.call_id, "state": self.state, "attempts": self.attempts,
                "created_at": self.created_at, "next_attempt_at": self.next_at,
                "last_status": self.last_status, "last_error": self.last_error,
                "finished_at": self.finished_at}


class CallEvents(Protocol):
    """Where call events go (Webhooks, or NO_WEBHOOKS when none are configured)."""

    def emit(self, event: str, call_id: str, data: dict, agent: str | None = None) -> None:
        """Queue `event` for the global URL and `agent`'s own; never blocks."""


class NoWebhooks:
    """Webhooks when none are configured: events go nowhere."""

    def emit(self, event: str, call_id: str, data: dict, agent: str | None = None) -> None:
        pass

    def deliveries(self) -> list[dict]:
        return []

    def delivery(self, delivery_id: int) -> dict | None:
        return None

    def stop(self) -> None:
        pass


NO_WEBHOOKS = NoWebhooks()


class Webhooks:
    def __init__(self, clock, sender, *, secret: str, url: str = "", agent_url=None,
                 max_pending: int = 1000, max_in_flight: int = 8, max_attempts: int = 6,
                 backoff: tuple = DEFAULT_BACKOFF, history: int = 1000):
        if not secret:
            raise ValueError("webhooks need a secret to sign with")
        self._clock = clock
        self._sender = sender
        self._secret = secret
        self._url = url
        self._agent_url = agent_url or (lambda name: None)  # agent name -> its URL
        self.max_pending = max_pending
        self.max_in_flight = max_in_flight
        self.max_attempts = max_attempts
        self.backoff = tuple(backoff) or (1.0,)
        self._ready: deque[Delivery] = deque()  # due now, oldest first
        self._waiting: set[Delivery] = set()  # pending a retry timer
        self._in_flight = 0
        self._history: OrderedDict[int, Delivery] = OrderedDict()
        self._history_size = history
        self._next_id = 1
        self.dropped = 0
        # deliveries that ended, by state, and tries made (the /metrics collector's)
        self.finished = {"delivered": 0, "failed": 0, "dropped": 0}
        self.tries = 0

    # -- the call path ------------------------------------------------------------------
    def emit(self, event: str, call_id: str, data: dict, agent: str | None = None) -> None:
        """File `event` for the global URL and `agent`'s; returns at once, never raises."""
        try:
            urls = [u for u in (self._url, self._agent_url(agent) if agent else None) if u]
            if not urls:
                return
            now = self._clock.seconds()
            body = json.dumps({"event": event, "call_id": call_id, "at": now,
                               "agent": agent, "data": data}, default=str,
                              separators=(",", ":")).encode()
            for url in dict.fromkeys(urls):
                self._file(Delivery(self._next_id, url, event, call_id, body, now))
                self._next_id += 1
            self._pump()
        except Exception:  # an event that cannot be sent must not end the call
            log.failure("webhook event {event} of {call_id} not filed", event=event,
                        call_id=call_id)

    # -- the API's view -----------------------------------------------------------------
    def deliveries(self) -> list[dict]:
        """The latest deliveries, newest first."""
        return [d.to_dict() for d in reversed(self._history.values())]

    def delivery(self, delivery_id: int) -> dict | None:
        found = self._history.get(delivery_id)
        return None if found is None else found.to_dict()

    @property
    def pending(self) -> int:
        return len(self._ready) + len(self._waiting) + self._in_flight

    # -- internals ----------------------------------------------------------------------
    def _file(self, delivery: Delivery) -> None:
        if self.pending >= self.max_pending:
            self._drop_oldest()
        self._ready.append(delivery)
        self._history[delivery.id] = delivery
        while len(self._history) > self._history_size:
            oldest_id = next(iter(self._history))
            if self._history[oldest_id].state == "pending":
                break  # (still queued: kept until it finishes)
            self._history.popitem(last=False)

    def _drop_oldest(self) -> None:
        queued = list(self._ready) + sorted(self._waiting, key=lambda d: d.id)
        if not queued:
            return  # all in flight: the bound is max_pending + max_in_flight
        victim = min(queued, key=lambda d: d.id)
        if victim in self._waiting:
            self._waiting.discard(victim)
            if victim.timer is not None and victim.timer.active():
                victim.timer.cancel()
        else:
            self._ready.remove(victim)
        self._finish(victim, "dropped")
        self.dropped += 1

    def _pump(self) -> None:
        while self._ready and self._in_flight < self.max_in_flight:
            self._send(self._ready.popleft())

    def _send(self, delivery: Delivery) -> None:
        now = self._clock.seconds()
        stamp = int(now)
        headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: str(stamp),
                   SIGNATURE_HEADER: sign(self._secret, stamp, delivery.body),
                   "Softswitch-Event": delivery.event,
                   "Softswitch-Delivery": str(delivery.id)}
        delivery.attempts += 1
        self.tries += 1
        delivery.next_at = None
        delivery.sending = True
        self._in_flight += 1
        try:
            d = self._sender.send(delivery.url, headers, delivery.body)
        except Exception as exc:  # a sender that fails at once is one failed try
            self._sent(delivery, None, f"{type(exc).__name__}: {exc}")
            return
        d.addCallbacks(lambda status: self._sent(delivery, status, None),
                       lambda failure: self._sent(delivery, None,
                                                  failure.getErrorMessage()[:200]
                                                  or failure.type.__name__))

    def _sent(self, delivery: Delivery, status: int | None, error: str | None) -> None:
        self._in_flight -= 1
        delivery.sending = False
        delivery.last_status, delivery.last_error = status, error
        if status is not None and 200 <= status < 300:
            self._finish(delivery, "delivered")
        elif delivery.attempts >= self.max_attempts:
            self._finish(delivery, "failed")
            log.info("webhook {id} to {url} failed after {n} tries", id=delivery.id,
                     url=delivery.url, n=delivery.attempts)
        elif delivery.state == "pending":
            wait = self.backoff[min(delivery.attempts, len(self.backoff)) - 1]
            delivery.next_at = self._clock.seconds() + wait
            self._waiting.add(delivery)
            delivery.timer = self._clock.callLater(wait, self._due, delivery)
        self._pump()

    def _due(self, delivery: Delivery) -> None:
        delivery.timer = None
        if delivery in self._waiting:
            self._waiting.discard(delivery)
            self._ready.append(delivery)
            self._pump()

    def _finish(self, delivery: Delivery, state: str) -> None:
        self.finished[state] += 1
        delivery.state = state
        delivery.next_at = None
        delivery.finished_at = self._clock.seconds()

    def stop(self) -> None:
        """Shutting down: no more retries (what is in flight finishes)."""
        for delivery in list(self._waiting):
            if delivery.timer is not None and delivery.timer.active():
                delivery.timer.cancel()
        self._waiting.clear()
