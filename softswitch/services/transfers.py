"""Transfer to a human: the agent of an answered call asks (`AgentTransfer(target,
warm)`), the switch dials the human as a new UAC leg and, on answer, bridges the
customer's media to it on the relay. The customer's RTP already lands on the switch,
so the customer gets no re-INVITE: only the relay's other side changes hands.

Targets:
    +14155550100       an E.164 number, through the outbound routes (longest prefix,
                       the route's trunks in order, each trunk's gateways by health)
    user:NAME          every registered contact of the SIP user NAME, rung at once;
                       the first to answer wins, the others are cancelled
    trunk:NAME         the call's own number (the DID the caller dialled; for an
                       outbound call, the number it was placed from) through trunk NAME
    trunk:NAME/NUMBER  NUMBER through trunk NAME

Media. The human is offered the customer's original SDP as the relay rewrites it for
its other side (`offer(media_id, "caller", customer_sdp)`: the relay ports facing the
human), restricted to the codec the customer is using with the agent and
telephone-event, since the relay does not transcode. When the human answers, the
relay's answer from the human's tag re-points that side at the human
(`answer(media_id, "caller", human_tag, sdp)`), the agent session lets go of the media
(`release_media`: the relay's local leg goes back to its socket) and is stopped with
its profile's goodbye; from then on the call's session is a `BridgedSession`, whose
`stop` deletes the relay call and gives its statistics. The relay's answer comes first
so that a human answer the relay cannot use leaves the agent where it was.

While the human's phone rings the customer hears the agent (warm: it stays on and may
talk, so nothing is played over it) or, cold (the agent is stopped before dialling),
what the agent had queued, then ringback (`session.ring_caller()`: `[agents]
transfer_ringback`). An agent that hangs up during a warm transfer turns it cold.

Early media (cold). On a 183 with SDP, once the session has sent what the agent had
queued (`session.early_media()`, a Deferred), the relay's other side is pointed at the
human (`answer(media_id, "caller", human_tag, sdp)`; the 2xx does it again): the
human's RTP reaches the customer, whose own RTP still goes to the session. The session
falls silent when that RTP arrives (a 183 without RTP leaves the ringback on). The
first leg with early SDP holds the relay until it fails (then `ring_caller()` again).
A warm transfer keeps the SDP for when it turns cold.

Afterwards the call is bridged: a BYE from either side is answered and the other side
gets a BYE; the relay call is deleted; the call keeps one record, with
`transfer_target` set.

A transfer that fails (busy, no answer, no route, the human's SDP unusable): warm, the
agent stays on and is told (`AgentSession.transfer_failed`: the Twilio profile's
documented "transfer-failed" event); cold, the customer has been hearing ringback and
the call ends with a BYE (disconnect_reason "transfer-failed"), which stops it.
Another transfer may be asked once one has failed; one asked while another is
dialling is ignored.

`mode: "refer"` asks the far end to transfer the call itself by SIP REFER
(calls.refer: the NOTIFYs followed, our legs ended on success, a refused REFER
bridged as above unless `refer_fallback` is off).
"""

from twisted.logger import Logger

from ..sdp.agent_answer import DEFAULT_PREFERENCE
from ..sip.errors import RemoteProtocolError
from ..sip.message import make_response
from ..sip.refer import DEFAULT_NOTIFY_TIMEOUT, parse_refer_to
from .attempts import MAX_FORKS, Attempt, trunk_attempts, user_attempts
from .calls.legs import SipLegs
from .calls.refer import REFERRED, ReferTransfer
from .calls.referred import ReferredTransfer
from .calls.referred import accepted as referred_accepted
from .calls.transfer import ANSWERING, BRIDGED, DIALLING, Transfer, TransferRefused
from .calls.transfer import TransferredCall
from .numbers import NumberError, normalise
from .webhooks import NO_WEBHOOKS

log = Logger()

DEFAULT_RING_TIMEOUT = 30.0


class Transfers:
    """Starts transfers; shared by inbound (AgentCalls) and outbound calls."""

    def __init__(self, stack, clock, snapshot_source, media, legs: SipLegs, *,
                 location=None, domain: str = "", limiter=None, gateway_order=None,
                 gateway_health=None, ring_timeout: float = DEFAULT_RING_TIMEOUT,
                 user_agent: str = "softswitch", session_timers=None,
                 max_forks: int = MAX_FORKS, webhooks=NO_WEBHOOKS, signing=None,
                 allow_sdes_over_insecure: bool = False,
                 codecs: tuple[str, ...] = DEFAULT_PREFERENCE,
                 refer_fallback: bool = True,
                 refer_notify_timeout: float = DEFAULT_NOTIFY_TIMEOUT):
        self.stack = stack
        self.signing = signing  # services.stir_signing.CallSigning (STIR/SHAKEN)
        self.allow_sdes_over_insecure = allow_sdes_over_insecure  # [media]
        self.webhooks = webhooks  # services.webhooks: call events out
        self.codecs = codecs  # [agents] codecs: how the customer's codec was chosen
        self.clock = clock
        self.snapshot = snapshot_source
        self.media = media  # MediaControl (the relay)
        self.legs = legs
        self._location = location
        self.domain = domain
        self.limiter = limiter
        self._gateway_order = gateway_order
        self.health = gateway_health
        self.ring_timeout = ring_timeout
        self.user_agent = user_agent
        self.session_timers = session_timers  # sip.session_timer.SessionTimerConfig
        self._max_forks = max_forks  # contacts of a user target rung at once
        self.refer_fallback = refer_fallback  # a refused REFER: dial and bridge instead
        self.refer_notify_timeout = refer_notify_timeout  # 202 -> final NOTIFY, at most

    def request(self, call: TransferredCall, target: str, warm: bool, mode: str = "bridge",
                headers: tuple[tuple[str, str], ...] = ()) -> "Transfer | None":
        current = call.transfer
        if current is not None and current.state in (DIALLING, ANSWERING):
            log.info("transfer of {call_id} to {target} ignored: one to {other} is under way",
                     call_id=call.call_id, target=target, other=current.target)
            return None
        if current is not None and current.state in (BRIDGED, REFERRED):
            return None
        if mode == "refer":
            refer = ReferTransfer(self, call, target, warm, headers)
            call.transfer = refer
            refer.start()
            return refer
        if not getattr(call.session, "media_id", None):
            log.info("transfer of {call_id}: its session cannot hand its media over",
                     call_id=call.call_id)
            return None
        transfer = Transfer(self, call, target, warm)
        call.transfer = transfer
        transfer.start()
        return transfer

    def referred(self, call: TransferredCall, leg, key, request) -> None:
        """A REFER from the customer's side (calls.referred): refused, or answered 202
        and carried out."""
        code, target, attempts = self._refer_plan(call, request)
        if code is not None:
            log.info("REFER in {call_id} refused: {code}", call_id=call.call_id, code=code)
            response = make_response(request, code)
            self.stack.respond(key, response)
            return
        transfer = ReferredTransfer(self, call, leg, target, attempts)
        call.transfer = transfer
        referred_accepted(self.stack, key, request, leg)
        transfer.start()

    def _refer_plan(self, call, request):
        """(refusal code or None, the target as the planner takes it, its attempts)."""
        trunk = self.snapshot().trunks.get(getattr(call.record, "trunk", None) or "")
        if trunk is None or not trunk.allow_refer:
            return 403, None, None
        current = call.transfer
        if current is not None and current.state in (DIALLING, ANSWERING):
            return 491, None, None
        values = request.headers.get_list("Refer-To")
        if len(values) != 1:
            return 400, None, None
        try:
            refer_to = parse_refer_to(values[0])
        except RemoteProtocolError as exc:
            return exc.status_hint, None, None
        target = self._referred_target(refer_to)
        if target is None:
            return 403, None, None
        try:
            groups = self.plan(call, target)
        except TransferRefused as exc:
            return exc.code, None, None
        return None, target, [a for group in groups for a in group]

    def _referred_target(self, refer_to) -> str | None:
        """A Refer-To as a target of ours: a number, or a user of our domain; None for
        anything else (the switch never dials a URI the far end chose)."""
        try:
            return normalise(refer_to.user or "", "e164")
        except NumberError:
            pass
        if refer_to.scheme != "tel" and refer_to.user and \
                (refer_to.host or "").lower() == self.domain.lower():
            return f"user:{refer_to.user}"
        return None

    def plan(self, call: TransferredCall, target: str) -> list[list[Attempt]]:
        """Groups of attempts: each group rung at once, the groups one after another."""
        target = target.strip()
        snapshot = self.snapshot()
        if target.startswith("user:"):
            return [self._user_attempts(target[5:])]
        if target.startswith("trunk:"):
            name, _, number = target[6:].partition("/")
            trunk = snapshot.trunks.get(name)
            if trunk is None or not trunk.enabled or not trunk.gateways:
                raise TransferRefused(503, f"trunk {name!r} is not usable")
            number = self._number(number or call.did or "")
            return [[a] for a in trunk_attempts(trunk, number, self._gateway_order)]
        number = self._number(target)
        trunks = [t for t in snapshot.outbound_trunks(number) if t.gateways]
        if not trunks:
            raise TransferRefused(404, f"no outbound route for {number}")
        return [[a] for trunk in trunks
                for a in trunk_attempts(trunk, number, self._gateway_order)]

    def _user_attempts(self, name: str) -> list[Attempt]:
        bindings = self._location.lookup(f"sip:{name}@{self.domain}") \
            if self._location is not None else []
        attempts = user_attempts(bindings, f"sip:{name}@{self.domain}", self._max_forks,
                                 follow_contact=False)
        if not attempts:
            raise TransferRefused(480, f"user {name!r} has no registered contact")
        return attempts

    @staticmethod
    def _number(text: str) -> str:
        try:
            return normalise(text, "e164")
        except NumberError:
            raise TransferRefused(404, f"{text!r} is not a number to dial") from None
