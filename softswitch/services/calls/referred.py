"""A REFER received from the customer's side of an agent call (RFC 3515): a PBX or
carrier transferring the call it placed to the agent. The switch takes the referrer's
place: it dials the Refer-To target through the dialplan (services.transfers
planning: a number through the outbound routes, a registered user of our domain),
offering the agent's media as the customer had it, and on answer the target replaces
the customer's leg (the relay's customer side is pointed at it, as for a re-INVITE
with a moved address; the agent stays on) and the referrer's leg gets our BYE.

    REFER  -> 202 Accepted
           <- NOTIFY sipfrag "SIP/2.0 100 Trying", Subscription-State: active
           <- NOTIFY "SIP/2.0 180 Ringing" (once, if it rings)
           <- NOTIFY "SIP/2.0 200 OK" | the failure, Subscription-State: terminated
           <- BYE (on success)

What is refused before the 202 (services.transfers.Transfers.referred): 403 when the
call's trunk has no `allow_refer`; 400 for a Refer-To that sip.refer will not take;
403 for a SIP address outside our domain that is not a number (the dialplan cannot
dial it: nothing is ever sent to a URI the far end chose); 491 while another
transfer of the call is under way; the planner's code (404, 480, 503) for a target
with no route."""

from twisted.logger import Logger

from ...sip.message import make_response
from ...sip.refer import notify_body
from ...sip.uri import parse_uri
from ..credential_retry import credentials_of
from ..ports import IGNORE_RESPONSES
from .events import Answered, Failed, Ringing
from .uac_leg import UacLeg

log = Logger()

DIALLING = "dialling"  # (calls.transfer's: one under way)
REPLACED = "replaced"
FAILED = "failed"
ENDED = "ended"
NOTIFY_EXPIRES = 60
_REASONS = {100: "Trying", 180: "Ringing", 200: "OK", 403: "Forbidden", 404: "Not Found",
            408: "Request Timeout", 480: "Temporarily Unavailable", 486: "Busy Here",
            487: "Request Terminated", 503: "Service Unavailable", 603: "Decline"}


class ReferredTransfer:
    """One REFER received: the owner of the UAC legs dialling its target, then (once
    one answered) of the call's new SIP leg, whose events it hands to the call."""

    warm = False

    def __init__(self, service, call, referrer, target: str, attempts: list):
        self.service = service
        self.call = call
        self.referrer = referrer  # the customer's SIP leg that sent the REFER
        self.target = target
        self.state = DIALLING
        self._attempts = attempts
        self._leg: UacLeg | None = None
        self._rang = False
        self._admission = None

    def start(self) -> None:
        self._notify(100, "active")
        self._next()

    def _next(self) -> None:
        service = self.service
        while self._attempts and self.state == DIALLING:
            attempt = self._attempts.pop(0)
            if attempt.trunk is not None and service.limiter is not None:
                admission = service.limiter.acquire(attempt.trunk, "outbound")
                if not admission.admitted:
                    continue
                self._release()
                self._admission = admission
            local = parse_uri(service.stack.local_uri(attempt.destination))
            self._leg = UacLeg(
                service.stack, service.clock, self, destination=attempt.destination,
                request_uri=attempt.uri, to_uri=attempt.to_uri,
                offer_sdp=self.referrer.local_sdp,
                from_uri=f"sip:{self.call.did or 'softswitch'}@{local.host}",
                routes=attempt.routes, credentials=credentials_of(attempt.trunk),
                ring_timeout=service.ring_timeout, follow_contact=attempt.follow_contact,
                legs=service.legs, user_agent=service.user_agent,
                session_timers=service.session_timers)
            self._leg.start()
            return
        if self.state == DIALLING:
            self._failed(503)

    def leg_event(self, leg, event) -> None:
        if self.state == REPLACED and leg is self._leg:
            self.call.leg_event(leg, event)  # the call's SIP leg now
            return
        if self.state != DIALLING or leg is not self._leg:
            if isinstance(event, Answered):
                leg.hang_up()
            return
        if isinstance(event, Ringing) and not self._rang:
            self._rang = True
            self._notify(180, "active")
        elif isinstance(event, Answered):
            self._answered(leg, event.sdp)
        elif isinstance(event, Failed):
            if event.outcome == "failed" and event.code >= 500 and self._attempts:
                self._next()
            else:
                self._failed(event.code)

    def _answered(self, leg: UacLeg, sdp: bytes) -> None:
        self.state = REPLACED
        call, old = self.call, self.referrer
        call.sip = leg
        call.customer_sdp = sdp
        call.record.transfer_target = self.target
        call.agent.far_sdp(sdp, False)  # the relay's customer side follows the target
        self._notify(200, "terminated;reason=noresource")
        old.hang_up()
        log.info("{call_id}: the far end's REFER to {target} answered: it replaces the "
                 "referrer", call_id=call.call_id, target=self.target)

    def _failed(self, code: int) -> None:
        self.state = FAILED
        self._release()
        log.info("{call_id}: the far end's REFER to {target} failed: {code}",
                 call_id=self.call.call_id, target=self.target, code=code)
        self._notify(code, "terminated;reason=noresource")

    def _notify(self, code: int, state: str) -> None:
        leg = self.referrer
        if leg.finished or leg.dialog is None:
            return
        stack = self.service.stack
        request, peer = leg.request("NOTIFY", body=notify_body(code, _REASONS.get(code, "")))
        request.headers.add("Event", "refer")
        if state == "active":
            state = f"active;expires={NOTIFY_EXPIRES}"
        request.headers.add("Subscription-State", state)
        request.headers.add("Contact", f"<{stack.local_uri(leg.contact_peer)}>")
        request.headers.add("Content-Type", "message/sipfrag;version=2.0")
        stack.send_request(request, peer, IGNORE_RESPONSES)

    def _release(self) -> None:
        admission, self._admission = self._admission, None
        if admission is not None:
            admission.release()

    # -- what the call tells (calls.call.TransferInProgress) ------------------------------
    def agent_left(self, reason: str) -> bool:
        return False

    def customer_ended(self, reason: str) -> None:
        if self.state == DIALLING and self._leg is not None:
            self._leg.cancel()
            self.state = ENDED
        self._release()


def accepted(stack, key, request, leg) -> None:
    """The 202 to a REFER we carry out."""
    response = make_response(request, 202)
    response.headers.add("Contact", f"<{stack.local_uri(leg.contact_peer)}>")
    stack.respond(key, response)
