"""The caller's side of a call the switch answers itself (an agent call): a SIP leg
(calls.sip_leg) whose dialog our 2xx makes (RFC 3261 §12.1.1).

`register()` takes a place in the leg table and the in-dialog router (False when the
router is full: the call is to be refused). `answer(key, body)` then sends the 2xx through the INVITE's server transaction with our
Contact, Allow and (RFC 4028) the negotiated session timer, registers the dialog, and
sends the 2xx again (T1 doubling up to T2) until the ACK comes (§13.3.1.4); no ACK
within Timer H: BYE, and the owner hears `Ended("local", "no-ack")`.

A delayed offer (an INVITE without SDP): our 2xx carries our offer, and the ACK's
SDP is the answer, reported as `Answered(sdp)` (b"" when the ACK has none).

In-dialog requests go to the caller's address the INVITE came from (`source`)."""

from ...sip.dialog import Dialog as SipDialog
from ...sip.message import Request, make_response
from ...sip.session_timer import UAS, Negotiated, SessionTimerConfig
from ...sip.timers import TimerConfig
from ...sip.transport import Peer, response_destination
from ..dialog_requests import ALLOW
from ..proxy_media import carries_sdp
from ..session_refresh import add_timing
from .events import Answered, LegOwner
from .legs import SipLegs
from .sip_leg import SipLeg, allowed_methods


class UasLeg(SipLeg):
    def __init__(self, stack, clock, owner: LegOwner, *, invite: Request, offer: bytes,
                 local_tag: str, source: Peer, legs: SipLegs | None = None,
                 user_agent: str = "softswitch",
                 session_timers: SessionTimerConfig | None = None,
                 timers: TimerConfig = TimerConfig()):
        super().__init__(stack, clock, owner, call_id=invite.call_id, contact_peer=source,
                         local_sdp=b"", legs=legs, user_agent=user_agent,
                         session_timers=session_timers)
        self.source = source
        self.dialog = SipDialog.as_uas(invite, local_tag)
        self.remote_sdp = offer or None  # the caller's offer as it came (none: delayed)
        self.peer_allows_update = "UPDATE" in allowed_methods(invite)
        self._invite = invite
        self._timers = timers
        self._answer_in_ack = False  # delayed offer: our 2xx made the offer
        self._ok = None  # our 2xx, sent again until the ACK comes
        self._ok_timer = None
        self._ok_interval = timers.t1
        self._ok_deadline = 0.0

    def next_hop(self) -> Peer:
        return self.source

    def register(self) -> bool:
        """Route the dialog's requests to this leg; False (and nothing kept) when
        there is no room for another dialog."""
        if self._legs is None:
            return True
        self._legs.add(self)
        if self._dialog_up():
            return True
        self._legs.remove(self)
        return False

    def answer(self, key, body: bytes, timing: Negotiated | None = None) -> None:
        """Our 2xx with `body` (our answer, or our offer when the INVITE had none)."""
        invite = self._invite
        ok = make_response(invite, 200, to_tag=self.dialog.local_tag, body=body)
        ok.headers.add("Contact", f"<{self.stack.local_uri(self.source)}>")
        ok.headers.add("Content-Type", "application/sdp")
        ok.headers.add("Allow", ALLOW)
        ok.headers.add("Server", self._user_agent)
        if timing is not None:
            add_timing(ok, timing)
        self.local_sdp = body
        self._answer_in_ack = self.remote_sdp is None
        if timing is not None:
            self._start_refresh(timing, timing.refresher == UAS)
        self.stack.respond(key, ok)
        self._ok = ok, response_destination(invite, self.source)
        self._ok_deadline = self._clock.seconds() + self._timers.H
        self._ok_timer = self._clock.callLater(self._ok_interval, self._resend_ok)

    def hang_up(self) -> None:
        """BYE the caller (unless the dialog has ended already)."""
        if self._done:
            return
        self._done = True
        self._send_bye()
        self._terminate()

    def ack(self, request: Request, source: Peer, view: SipDialog) -> None:
        self._stop_resending()
        if self._answer_in_ack:
            self._answer_in_ack = False
            sdp = request.body if carries_sdp(request) else b""
            if sdp:
                self.remote_sdp = sdp
            if not self._done:
                self._emit(Answered(sdp))
            return
        super().ack(request, source, view)

    def _resend_ok(self) -> None:
        self._ok_timer = None
        if self._done:
            return
        if self._clock.seconds() >= self._ok_deadline:
            self._end_locally("no-ack")
            return
        self.stack.send_stateless(*self._ok)
        self._ok_interval = min(2 * self._ok_interval, self._timers.t2)
        self._ok_timer = self._clock.callLater(self._ok_interval, self._resend_ok)

    def _stop_resending(self) -> None:
        if self._ok_timer is not None and self._ok_timer.active():
            self._ok_timer.cancel()
        self._ok_timer = None

    def _terminate(self) -> None:
        self._stop_resending()
        super()._terminate()

    def __repr__(self) -> str:
        return f"<UasLeg {self.call_id}>"
