"""What the caller of a cold transfer hears while the human's phone rings
(`edge.agent.sessions.LiveAgentSession.ring_caller` and `early_media`, asked by
services.transfers).

The agent is gone, but the call's AgentBridge keeps pacing RTP to the caller: what the
agent had queued first, then — as the playout's filler — the configured ringback
(`media.tones`, `[agents] transfer_ringback`), until the human answers (the relay
takes the caller's media over) or the transfer fails (the call ends).

Early media. When the human's provisional response carries SDP (183), the transfer
asks `early_media()`: a Deferred that fires once the agent's queued audio has been
sent (its last words are not cut), whereupon the transfer points the relay's far side
at the human, so whatever the human sends (a carrier's ringback, an announcement) is
relayed to the caller. Our stream must then fall silent — two streams at one phone
would interleave — but only once that media actually arrives: many gateways send 183
with SDP and no RTP, and their callers should keep hearing our ringback. So at every
slot the watch reads the relay's packet count on the human's side, and the first new
packet pauses the session's slots: nothing more is sent from here. If that leg fails
and the transfer goes on, `ring()` resumes the slots with the ringback where it left
off (the pacer skips the paused slots, so the caller sees a timestamp jump with the
marker bit, not a burst).

The watch is a member of the session's SlotTicker filed at the session's own deadline,
after it: it runs right after each of the session's slots, in the same batch, so it
sees the playout as that slot left it and a pause is never undone by the session
rescheduling itself.
"""

from twisted.internet import defer

from ...media.tones import RINGBACK_CHOICES, cadence_frames, ringback_tone

WATCH_PERIOD = 0.020  # s: the watch's period should the session not have run
_CODECS = ("PCMU", "PCMA", "G722", "OPUS")


def prepare_ringback(name: str) -> None:
    """Check `name` and synthesise its cycles now, not in the middle of a call."""
    if name not in RINGBACK_CHOICES:
        raise ValueError(f"ringback {name!r} is not one of {', '.join(RINGBACK_CHOICES)}")
    if name != "silence":
        for codec in _CODECS:
            cadence_frames(name, codec)


class TransferRingback:
    """`session` is the ticker member that paces `bridge`; `leg` its LocalMediaLeg."""

    def __init__(self, ticker, session, bridge, leg, name: str):
        self._ticker = ticker
        self._session = session
        self._bridge = bridge
        self._leg = leg
        self._source = ringback_tone(name, leg.codec)
        self._played: defer.Deferred | None = None  # early_media(), until the queue is sent
        self._baseline: int | None = None  # far packets when the watch began
        self.paused = False  # the far end's early media has the caller's ear

    def ring(self) -> None:
        """Ringback once the queue is empty (again, after early media)."""
        if self._gone():
            return
        source = self._source
        self._bridge.playout.filler = source.next_frame if source is not None else None
        self._played = self._baseline = None
        self._ticker.cancel(self)
        if self.paused:
            self.paused = False
            self._ticker.schedule(self._session, self._bridge.next_deadline())

    def early_media(self) -> defer.Deferred:
        """Fires once the agent's queued audio is sent; from then on, the first RTP
        from the human pauses our stream."""
        self.ring()
        d = self._played = defer.Deferred()
        if not self._gone():
            # At the session's deadline (past, if it was just resumed), filed after it.
            self._ticker.schedule(self, self._bridge.next_deadline())
        return d

    def slot_due(self, now: float) -> None:
        if self._gone():
            return
        played = self._played
        if played is not None:
            if self._bridge.playout.queued_ms() == 0:
                self._played = None
                self._baseline = self._leg.far_packets()
            self._watch(now)
            if self._played is None:
                played.callback(None)  # (the transfer points the relay at the human)
            return
        if self._baseline is None:
            return
        if self._leg.far_packets() > self._baseline:
            self._baseline = None
            self.paused = True
            self._ticker.cancel(self._session)
            return
        self._watch(now)

    def _watch(self, now: float) -> None:
        deadline = self._bridge.next_deadline()  # the session's next slot, just filed
        if deadline is None or deadline <= now:  # (the session did not run: never spin)
            deadline = self._ticker.align(now) + WATCH_PERIOD
        self._ticker.schedule(self, deadline)

    def _gone(self) -> bool:
        return self._bridge.closed or self._leg.released
