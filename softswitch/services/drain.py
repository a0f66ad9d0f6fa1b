"""Draining on shutdown (SIGTERM): the switch takes no new calls and gives the calls in
progress a bounded time to end by themselves.

From the moment `Drain()` is called:

- a new INVITE gets 503 with Retry-After (the dispatcher's `draining` flag);
- a new outbound AI call (POST /v1/calls) is refused (`outbound_calls.SwitchDraining`,
  a 503 from the API), and outbound calls still queued for their trunk's limits are
  failed at once: "shutdown" with 503 in their call records;
- the returned Deferred fires once no call is left — proxied calls, calls answered by
  an agent (transfers to a human included), outbound calls dialling, ringing or
  answered — or `timeout` seconds have passed, whichever comes first.

Polled on the injected clock every `step` seconds: the calls end on their own schedule
and nothing here needs to hear about it.
"""

from twisted.internet.defer import Deferred
from twisted.logger import Logger

log = Logger()

DRAIN_STEP = 0.25


class Drain:
    def __init__(self, clock, dispatcher, proxy, outbound=None, *, timeout: float,
                 step: float = DRAIN_STEP):
        self._clock = clock
        self.dispatcher = dispatcher
        self.proxy = proxy  # its len() counts proxied calls and the agent calls' dialogs
        self.outbound = outbound  # OutboundCalls, or None
        self.timeout = timeout
        self._step = step

    def calls_in_progress(self) -> int:
        outbound = len(self.outbound) if self.outbound is not None else 0
        return len(self.proxy) + outbound

    def __call__(self) -> Deferred:
        self.dispatcher.draining = True
        if self.outbound is not None:
            self.outbound.drain()
        log.info("draining: refusing new calls, waiting for {n} calls",
                 n=self.calls_in_progress())
        return wait_until(self._clock, lambda: self.calls_in_progress() == 0, self.timeout,
                          self._step)


def wait_until(clock, condition, timeout: float, step: float = DRAIN_STEP) -> Deferred:
    """A Deferred that fires when condition() holds or timeout seconds passed."""
    deadline = clock.seconds() + timeout
    done = Deferred()

    def check():
        if condition() or clock.seconds() >= deadline:
            done.callback(None)
        else:
            clock.callLater(step, check)

    check()
    return done
