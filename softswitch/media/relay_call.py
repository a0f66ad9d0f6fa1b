"""A relayed call's two legs and its offer/answer, hold and activity state.

Pure: the RTP relay (edge/media/relay.py) extends these with the ports it binds.
The caller's leg is known by its tag from the first offer; the callee's tag is set by
the first answer and replaced when another fork or failover target answers (a new
party: the ports facing it latch afresh). An answer is checked against the last offer.
Inactivity counts from the answer, from a resume, or from when a side that had no
media address names one, whichever is latest (`activity_floor`).
"""

from ..sdp import OriginVersioner, SdpError, SessionDescription, check_answer
from .relay_plan import call_on_hold, names_an_address


class UnknownLeg(LookupError):
    """A tag that is not a leg of the call."""


class AnswerMismatch(ValueError):
    """An answer that does not fit the last offer (RFC 3264 §6)."""


class RelayLeg:
    __slots__ = ("tag", "versioner", "sdp", "addressed")

    def __init__(self, tag: str | None):
        self.tag = tag
        self.versioner = OriginVersioner()  # the o= line this leg's phone sees
        self.sdp: SessionDescription | None = None
        self.addressed = False  # an SDP of this leg has named a media address


class RelayCall:
    __slots__ = ("call_id", "caller", "callee", "started", "answered", "activity_floor",
                 "offer", "on_hold")

    leg_type = RelayLeg

    def __init__(self, call_id: str, tag: str, now: float):
        self.call_id = call_id
        self.caller = self.leg_type(tag)
        self.callee = self.leg_type(None)
        self.started = now
        self.answered: float | None = None
        self.activity_floor = now  # inactivity counts from here at the earliest
        self.offer: SessionDescription | None = None  # the last offer, to check answers
        self.on_hold = False

    def leg(self, tag: str | None) -> RelayLeg | None:
        if tag == self.caller.tag:
            return self.caller
        if tag is not None and tag == self.callee.tag:
            return self.callee
        return None

    def other(self, leg: RelayLeg) -> RelayLeg:
        return self.callee if leg is self.caller else self.caller

    def offerer(self, from_tag: str) -> RelayLeg:
        """The leg that sends an offer from `from_tag`."""
        leg = self.leg(from_tag)
        if leg is None:
            raise UnknownLeg(f"tag {from_tag!r} is not a leg of call {self.call_id!r}")
        return leg

    def take_answer(self, from_tag: str, to_tag: str, sdp: SessionDescription,
                    now: float) -> tuple[RelayLeg, bool]:
        """An answer from `to_tag` to the offer of `from_tag`: the answering leg and
        whether a new party answered there (another fork, the next failover target)."""
        answerer = self.other(self.offerer(from_tag))
        if answerer.tag != to_tag and answerer is not self.callee:
            raise UnknownLeg(f"tag {to_tag!r} is not a leg of call {self.call_id!r}")
        if self.offer is not None:
            try:
                check_answer(self.offer, sdp)
            except SdpError as exc:
                raise AnswerMismatch(str(exc)) from None
        new_party = False
        if answerer.tag != to_tag:
            new_party = answerer.tag is not None
            answerer.tag = to_tag
        if self.answered is None:
            self.answered = self.activity_floor = now
        return answerer, new_party

    def sdp_applied(self, leg: RelayLeg, sdp: SessionDescription, now: float) -> None:
        """`leg`'s phone sent `sdp` (offer or answer): hold and activity follow."""
        leg.sdp = sdp
        was_on_hold = self.on_hold
        self.on_hold = call_on_hold(self.caller.sdp, self.callee.sdp)
        if was_on_hold and not self.on_hold and self.answered is not None:
            # Resumed: the media has had no reason to flow until now.
            self.activity_floor = max(self.activity_floor, now)
        if not leg.addressed and names_an_address(sdp):
            leg.addressed = True
            if self.answered is not None:
                # A side with no address before (an outbound call's far end, a
                # placeholder until it answers) joins now: its silence counts from here.
                self.activity_floor = max(self.activity_floor, now)
