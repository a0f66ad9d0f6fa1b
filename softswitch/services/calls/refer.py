"""A blind transfer by SIP REFER (RFC 3515) on the customer's leg: the agent asked for
`mode: "refer"`, so the far end (the customer's carrier or PBX) is asked to call the
target itself and the switch stops paying for the media once it has.

    REFER (Refer-To, Referred-By: RFC 3892)  ->  202 Accepted
    NOTIFY (Event: refer, message/sipfrag "SIP/2.0 100 Trying" ...)  -> 200 each
    NOTIFY sipfrag "SIP/2.0 200 OK", Subscription-State: terminated  -> 200, then BYE

The REFER's state (sip.refer.ReferWatch) decides; this module sends and schedules:
- success (a 2xx sipfrag): the call is transferred (`transfer_target`, the
  `call.transferred` webhook with `mode: "refer"`) and ends with our BYE
  (disconnect_reason "refer");
- refused (the REFER got a final non-2xx or no answer at all): with `refer_fallback`
  the target is dialled and bridged by the switch (calls.transfer) as if the agent had
  asked for that, and the agent hears that transfer's outcome; without it the agent is
  told the transfer failed and stays on;
- accepted but failed (a failure sipfrag, the subscription ended without a final
  one, or no final NOTIFY before `refer_notify_timeout`): the agent is told the
  transfer failed (its profile's transfer-failed message) and stays on the call.

The agent stays on the call while the far end works; an agent that leaves meanwhile
leaves the outcome to decide whether the call ends (failure: it ends)."""

from twisted.logger import Logger

from ...sip.errors import RemoteProtocolError
from ...sip.refer import (
    ReferFailed,
    ReferProgress,
    ReferSucceeded,
    ReferWatch,
    format_refer_to,
    subscription_state,
)
from ...sip.message import make_response
from ...sip.uri import SipUri, parse_uri
from ..numbers import NumberError, normalise
from ..webhooks import emit_for

log = Logger()

# Shared with calls.transfer, so that services.transfers sees one under way.
DIALLING = "dialling"
REFERRED = "referred"  # the far end transferred the call; ours ends
FAILED = "failed"
ENDED = "ended"


class ReferTransfer:
    """One REFER of one call; the ClientHandler of the REFER transaction and the
    receiver of its NOTIFYs (SipLeg.refer)."""

    warm = False  # (a REFER is blind; TransferInProgress readers may look)

    def __init__(self, service, call, target: str, warm: bool,
                 headers: tuple[tuple[str, str], ...] = ()):
        self.service = service
        self.call = call
        self.target = target
        self.bridge_warm = warm  # for the bridge a refused REFER falls back to
        self.headers = dict(headers)
        self.state = DIALLING
        self._leg = None
        self._watch: ReferWatch | None = None
        self._timer = None
        self._agent_gone = False

    # -- the steps ----------------------------------------------------------------------
    def start(self) -> None:
        leg = self.call.sip
        if leg is None or leg.dialog is None or leg.finished:
            self._fallback(481)
            return
        uri = refer_uri(self.target, leg.dialog.remote_target)
        if uri is None:  # user:NAME, trunk:NAME: only the switch can dial those
            self._fallback(0)
            return
        if _names_us(self.service.stack, uri):
            log.info("REFER of {call_id} to {target} not sent: it names the switch",
                     call_id=self.call.call_id, target=self.target)
            self._agent_told(403, "failed")
            return
        try:
            refer_to = format_refer_to(uri, self.headers)
        except (RemoteProtocolError, ValueError) as exc:
            log.info("REFER of {call_id} to {target} not sent: {why}",
                     call_id=self.call.call_id, target=self.target, why=exc)
            self._agent_told(400, "failed")
            return
        stack = self.service.stack
        request, peer = leg.request("REFER")
        request.headers.add("Refer-To", refer_to)
        local = parse_uri(stack.local_uri(leg.contact_peer))
        request.headers.add("Referred-By", f"<sip:{self.call.did or 'softswitch'}@{local.host}>")
        request.headers.add("Contact", f"<{stack.local_uri(leg.contact_peer)}>")
        self._leg = leg
        leg.refer = self
        now = self.service.clock.seconds()
        self._watch = ReferWatch(now, notify_timeout=self.service.refer_notify_timeout)
        log.info("REFER of {call_id} to {refer_to}", call_id=self.call.call_id,
                 refer_to=refer_to)
        stack.send_request(request, peer, self)
        self._schedule()

    # ClientHandler of the REFER.
    def response_received(self, key, response) -> None:
        self._outcome(self._watch.response(response.status, self.service.clock.seconds()))

    def timed_out(self, key) -> None:
        self._outcome(self._watch.response(408, self.service.clock.seconds()))

    def transport_failed(self, key) -> None:
        self._outcome(self._watch.response(503, self.service.clock.seconds()))

    def notify_received(self, key, request) -> None:
        """A NOTIFY of the REFER's subscription (SipLeg routes it here)."""
        self.service.stack.respond(key, make_response(request, 200))
        if self._watch is None:
            return
        sipfrag = "message/sipfrag" in (request.headers.get("Content-Type") or "").lower()
        self._outcome(self._watch.notify(
            request.body if sipfrag else b"",
            subscription_state(request.headers.get("Subscription-State")),
            self.service.clock.seconds()))

    def _fire(self) -> None:
        self._timer = None
        self._outcome(self._watch.handle_timer(self.service.clock.seconds()))

    def _schedule(self) -> None:
        self._cancel_timer()
        deadline = self._watch.get_timer() if self._watch is not None else None
        if deadline is not None and self.state == DIALLING:
            delay = max(0.0, deadline - self.service.clock.seconds())
            self._timer = self.service.clock.callLater(delay, self._fire)

    def _cancel_timer(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    # -- outcomes ------------------------------------------------------------------------
    def _outcome(self, outcome) -> None:
        if self.state != DIALLING or outcome is None:
            self._schedule()
            return
        if isinstance(outcome, ReferProgress):
            log.info("REFER of {call_id}: {code}", call_id=self.call.call_id, code=outcome.code)
            self._schedule()
            return
        self._detach()
        if isinstance(outcome, ReferSucceeded):
            self.state = REFERRED
            record = self.call.record
            record.transfer_target = self.target
            emit_for(self.service.webhooks, "call.transferred", record, target=self.target,
                     warm=False, mode="refer")
            log.info("{call_id} was transferred to {target} by REFER",
                     call_id=self.call.call_id, target=self.target)
            self.call.end("switch", "refer")
        elif isinstance(outcome, ReferFailed) and outcome.refused:
            self._fallback(outcome.code)
        else:
            reason = outcome.reason if outcome.reason in ("busy", "no-answer") else "failed"
            self._agent_told(outcome.code, reason)

    def _fallback(self, code: int) -> None:
        """The far end would not take the REFER: the switch dials and bridges, unless
        that is switched off."""
        self._detach()
        self.state = FAILED
        target = bridge_target(self.target)
        if not self.service.refer_fallback or target is None or self._agent_gone:
            self._agent_told(code or 403, "failed")
            return
        log.info("REFER of {call_id} refused ({code}): bridging to {target}",
                 call_id=self.call.call_id, code=code, target=target)
        self.service.request(self.call, target, self.bridge_warm)

    def _agent_told(self, code: int, reason: str) -> None:
        self.state = FAILED
        log.info("REFER of {call_id} to {target} failed: {code} {reason}",
                 call_id=self.call.call_id, target=self.target, code=code, reason=reason)
        if self._agent_gone:
            self.call.end("agent", "refer-failed")
        else:
            self.call.session.transfer_failed(self.target, code, reason)

    def _detach(self) -> None:
        self._cancel_timer()
        if self._leg is not None and self._leg.refer is self:
            self._leg.refer = None  # later NOTIFYs: 481 (the subscription is over)

    # -- what the call tells (calls.call.TransferInProgress) ------------------------------
    def agent_left(self, reason: str) -> bool:
        if self.state != DIALLING:
            return False
        self._agent_gone = True
        self.call.session.end_agent(reason)
        return True

    def customer_ended(self, reason: str) -> None:
        self._detach()
        if self.state == DIALLING:
            self.state = ENDED


def refer_uri(target: str, remote_target: str) -> str | None:
    """The URI a REFER names for an agent's target: a sip:, sips: or tel: URI as
    given; a number as sip:NUMBER at the far end's host (its carrier routes it);
    None for the switch's own kinds of target (user:, trunk:)."""
    target = target.strip()
    scheme = target.split(":", 1)[0].lower()
    if scheme in ("sip", "sips", "tel"):
        return target
    if scheme in ("user", "trunk"):
        return None
    try:
        number = normalise(target, "e164")
    except NumberError:
        return None
    try:
        far = parse_uri(remote_target)
    except (RemoteProtocolError, ValueError):
        return f"tel:{number}"
    if not isinstance(far, SipUri):
        return f"tel:{number}"
    port = f":{far.port}" if far.port else ""
    return f"{far.scheme}:{number}@{far.host}{port}"


def _names_us(stack, uri: str) -> bool:
    """Whether a sip: target is one of the switch's own addresses (the far end would
    only send the call back here)."""
    try:
        parsed = parse_uri(uri)
    except (RemoteProtocolError, ValueError):
        return False
    if not isinstance(parsed, SipUri):
        return False
    port = parsed.port or (5061 if parsed.scheme == "sips" else 5060)
    return stack.is_our_address(parsed.host.strip("[]"), port)


def bridge_target(target: str) -> str | None:
    """What the switch's own transfer dials for a REFER target it falls back from:
    the target as is, a tel: number, or the number of a sip: URI; None for a SIP
    address the dialplan cannot reach."""
    text = target.strip()
    scheme = text.split(":", 1)[0].lower()
    if scheme not in ("sip", "sips", "tel"):
        return text
    try:
        uri = parse_uri(text)
    except (RemoteProtocolError, ValueError):
        return None
    number = uri.number if scheme == "tel" else getattr(uri, "user", None)
    try:
        return normalise(number or "", "e164")
    except NumberError:
        return None
