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
"""

from dataclasses import dataclass
from typing import Protocol

from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.logger import Logger

from ..sdp import Line, SdpError, parse_sdp
from ..sdp.agent_answer import DEFAULT_PREFERENCE, choose_audio
from ..sip.uri import parse_uri
from .dialogs import CallRecord
from .media_control import MediaError
from .numbers import NumberError, normalise
from .attempts import MAX_FORKS, Attempt, trunk_attempts, user_attempts
from .credential_retry import credentials_of
from .outbound_calls import moves_on
from .uac_leg import Answered, Ended, Failed, Reoffered, Ringing, UacLeg, UacLegs

log = Logger()

CALLER_TAG = "caller"  # the customer's side of an agent call's relay call (edge.agent.media)
DEFAULT_RING_TIMEOUT = 30.0

# Transfer states.
DIALLING = "dialling"  # the relay's offer is asked, or legs are out
ANSWERING = "answering"  # the human answered; the relay is being re-pointed
BRIDGED = "bridged"
FAILED = "failed"
ENDED = "ended"  # the call is over (either side hung up, before or after the bridge)


class TransferredCall(Protocol):
    """An answered agent call as a transfer sees it (inbound: agent_calls; outbound:
    outbound_calls.OutboundCall)."""

    call_id: str
    record: CallRecord
    session: object  # the AgentSession; replaced by a BridgedSession on answer
    transfer: object  # the Transfer asked last, or None
    customer_sdp: bytes  # the customer's SDP, re-offered to the human
    customer: str  # the customer's number: the From of the call to the human
    did: str | None  # our number on this call
    ended: bool

    def end(self, side: str, reason: str) -> None:
        """BYE the customer; the call ends (its record is written)."""


class TransferRefused(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


class BridgedSession:
    """The session of a call once its customer talks to the human: nothing to do but
    end the relay call."""

    def __init__(self, media, media_id: str, answer_sdp: bytes, agent_stats: Deferred):
        self._media = media
        self.media_id = media_id
        self.answer_sdp = answer_sdp
        self._agent_stats = agent_stats

    def begin(self, on_end, on_transfer) -> None:
        pass

    def dtmf(self, digit: str) -> None:
        pass  # (RFC 4733 digits go through the relay; INFO digits are not passed on)

    def hold(self, held: bool) -> None:
        pass  # (the relay sees the hold in the re-offer)

    def reoffer(self, sdp: bytes):
        """The customer's new SDP (hold, resume): the relay's customer side follows it."""
        return maybeDeferred(self._media.offer, self.media_id, CALLER_TAG, sdp)

    def end_agent(self, reason: str) -> None:
        pass

    def release_media(self) -> None:
        pass

    def ring_caller(self) -> None:
        pass

    def early_media(self):
        return succeed(None)

    def transfer_failed(self, target: str, code: int, outcome: str) -> None:
        pass

    def stop(self, reason: str):
        d = self._agent_stats
        d.addErrback(lambda f: {})

        def delete(agent_stats):
            agent_stats = dict(agent_stats or {})
            deleted = maybeDeferred(self._media.delete, self.media_id)
            deleted.addCallbacks(lambda stats: {**agent_stats, "media": stats.to_dict()},
                                 lambda f: agent_stats)
            return deleted

        return d.addCallback(delete)


class Transfers:
    """Starts transfers; shared by inbound (AgentCalls) and outbound calls."""

    def __init__(self, stack, clock, snapshot_source, media, legs: UacLegs, *,
                 location=None, domain: str = "", limiter=None, gateway_order=None,
                 gateway_health=None, ring_timeout: float = DEFAULT_RING_TIMEOUT,
                 user_agent: str = "softswitch", session_timers=None,
                 max_forks: int = MAX_FORKS, codecs: tuple[str, ...] = DEFAULT_PREFERENCE):
        self.stack = stack
        self.codecs = codecs  # [agents] codecs: how the customer's codec was chosen
        self.clock = clock
        self._snapshot = snapshot_source
        self.media = media  # MediaControl (the relay)
        self.legs = legs
        self._location = location
        self._domain = domain
        self.limiter = limiter
        self._gateway_order = gateway_order
        self.health = gateway_health
        self.ring_timeout = ring_timeout
        self.user_agent = user_agent
        self.session_timers = session_timers  # sip.session_timer.SessionTimerConfig
        self._max_forks = max_forks  # contacts of a user target rung at once

    def request(self, call: TransferredCall, target: str, warm: bool) -> "Transfer | None":
        current = call.transfer
        if current is not None and current.state in (DIALLING, ANSWERING):
            log.info("transfer of {call_id} to {target} ignored: one to {other} is under way",
                     call_id=call.call_id, target=target, other=current.target)
            return None
        if current is not None and current.state == BRIDGED:
            return None
        if not getattr(call.session, "media_id", None):
            log.info("transfer of {call_id}: its session cannot hand its media over",
                     call_id=call.call_id)
            return None
        transfer = Transfer(self, call, target, warm)
        call.transfer = transfer
        transfer.start()
        return transfer

    def plan(self, call: TransferredCall, target: str) -> list[list[Attempt]]:
        """Groups of attempts: each group rung at once, the groups one after another."""
        target = target.strip()
        snapshot = self._snapshot()
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
        bindings = self._location.lookup(f"sip:{name}@{self._domain}") \
            if self._location is not None else []
        attempts = user_attempts(bindings, f"sip:{name}@{self._domain}", self._max_forks,
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


@dataclass
class _Failure:
    code: int
    outcome: str


class Transfer:
    """One transfer of one call (the owner of its UAC legs)."""

    def __init__(self, service: Transfers, call: TransferredCall, target: str, warm: bool):
        self.service = service
        self.call = call
        self.target = target
        self.warm = warm
        self.state = DIALLING
        self.groups: list[list[Attempt]] = []
        self.legs: list[UacLeg] = []
        self.human: UacLeg | None = None
        self.offer = b""
        self._rang: set[int] = set()  # ids of the legs that rang
        self._failures: list[_Failure] = []
        self._admissions: dict[str, object] = {}  # trunk name -> Admission
        self._gateways: dict[int, str] = {}  # id of a trunk leg -> its gateway's key
        self._early: tuple[UacLeg, bytes] | None = None  # the leg whose early SDP counts
        self._media_id = call.session.media_id

    # -- the steps ----------------------------------------------------------------------
    def start(self) -> None:
        log.info("transferring {call_id} to {target} ({kind})", call_id=self.call.call_id,
                 target=self.target, kind="warm" if self.warm else "cold")
        try:
            self.groups = self.service.plan(self.call, self.target)
        except TransferRefused as exc:
            log.info("transfer of {call_id}: {why}", call_id=self.call.call_id, why=exc)
            self._fail(exc.code, "failed")
            return
        if not self.warm:
            self.call.session.end_agent("transfer")
            self.call.session.ring_caller()
        d = self.service.media.offer(self._media_id, CALLER_TAG, self.call.customer_sdp)
        d.addCallbacks(self._offered, self._media_failed)

    def _offered(self, sdp: bytes) -> None:
        if self.state != DIALLING:
            return
        self.offer = restrict_offer(sdp, self.call.customer_sdp, self.service.codecs)
        self._next_group()

    def _media_failed(self, failure) -> None:
        error = failure.value
        log.info("transfer of {call_id}: the relay refused: {error}",
                 call_id=self.call.call_id, error=failure.getErrorMessage())
        self._fail(error.status_hint if isinstance(error, MediaError) else 500, "failed")

    def _next_group(self) -> None:
        service = self.service
        while self.groups and self.state == DIALLING:
            group = self.groups.pop(0)
            legs = []
            for attempt in group:
                if attempt.trunk is not None and not self._admit(attempt.trunk):
                    continue
                local = parse_uri(service.stack.local_uri(attempt.destination))
                leg = UacLeg(
                    service.stack, service.clock, self, destination=attempt.destination,
                    request_uri=attempt.uri, to_uri=attempt.to_uri, offer_sdp=self.offer,
                    from_uri=f"sip:{self.call.customer}@{local.host}", routes=attempt.routes,
                    credentials=credentials_of(attempt.trunk),
                    ring_timeout=service.ring_timeout, follow_contact=attempt.follow_contact,
                    registry=service.legs, user_agent=service.user_agent,
                    session_timers=service.session_timers)
                if attempt.gateway is not None:
                    self._gateways[id(leg)] = attempt.gateway.key
                legs.append(leg)
            if legs:
                self.legs = legs
                for leg in legs:
                    if self.state == DIALLING and not leg.finished:
                        leg.start()
                return
        if self.state == DIALLING:
            self._fail(*self._best_failure())

    def _admit(self, trunk) -> bool:
        if self.service.limiter is None or trunk.name in self._admissions:
            return True
        admission = self.service.limiter.acquire(trunk, "outbound")
        if not admission.admitted:
            self._failures.append(_Failure(503, "failed"))
            return False
        self._admissions[trunk.name] = admission
        return True

    # -- the legs' events ------------------------------------------------------------------
    def leg_event(self, leg: UacLeg, event) -> None:
        if isinstance(event, Ringing):
            self._rang.add(id(leg))
            if event.sdp and self.state == DIALLING and leg in self.legs:
                self._early_media(leg, event.sdp)
        elif isinstance(event, Answered):
            if self.state != DIALLING or leg not in self.legs:
                leg.bye()
                return
            for other in self.legs:
                if other is not leg:
                    other.cancel()
            self._answered(leg, event.sdp)
        elif isinstance(event, Failed):
            self._failures.append(_Failure(event.code, event.outcome))
            if self._early is not None and self._early[0] is leg:
                self._early = None
                if self.state == DIALLING and not self.warm:
                    self.call.session.ring_caller()  # its early media is over
            if self.state != DIALLING or leg not in self.legs:
                return
            gateway = self._gateways.get(id(leg))
            if event.code == 503 and gateway and self.service.health is not None:
                self.service.health.mark_suspect(gateway)
            if not all(other.finished for other in self.legs):
                return
            if moves_on(event, id(leg) in self._rang) and self.groups:
                self._next_group()
            else:
                self._fail(*self._best_failure())
        elif isinstance(event, Reoffered):
            if leg is self.human and self.state == BRIDGED:
                # The human holds or resumes: the relay's human side follows its SDP
                # (the customer gets no re-INVITE; the relay stops sending to a holder).
                d = maybeDeferred(self.service.media.offer, self._media_id, leg.local_tag,
                                  event.sdp)
                d.addErrback(lambda f: log.info("relay refused the human's new SDP: {why}",
                                                why=f.getErrorMessage()))
        elif isinstance(event, Ended):
            if leg is self.human and self.state == BRIDGED:
                self.state = ENDED
                self._release()
                self.call.end("callee", event.reason)

    def _answered(self, leg: UacLeg, sdp: bytes) -> None:
        self.state = ANSWERING
        d = self.service.media.answer(self._media_id, CALLER_TAG, leg.local_tag, sdp)

        def bridged(_):
            if self.state != ANSWERING:  # the customer hung up meanwhile
                leg.bye()
                return
            session = self.call.session
            session.release_media()
            stats = session.stop("transfer")
            self.call.session = BridgedSession(self.service.media, self._media_id,
                                               getattr(session, "answer_sdp", b""), stats)
            self.call.record.transfer_target = self.target
            self.human = leg
            self.state = BRIDGED
            log.info("{call_id} is bridged to {target}", call_id=self.call.call_id,
                     target=self.target)

        def refused(failure):
            log.info("transfer of {call_id}: the relay refused the human's answer: "
                     "{error}", call_id=self.call.call_id, error=failure.getErrorMessage())
            leg.bye()
            if self.state == ANSWERING:
                self.state = DIALLING
                self._fail(488, "failed")

        d.addCallbacks(bridged, refused)

    # -- what the call's owner tells --------------------------------------------------------
    def customer_ended(self, reason: str) -> None:
        """The customer's side ended (BYE, agent hang-up, API): take the human's leg down."""
        if self.state in (DIALLING, ANSWERING):
            for leg in self.legs:
                leg.cancel()
        elif self.state == BRIDGED and self.human is not None:
            self.human.bye()
        if self.state != FAILED:
            self.state = ENDED
        self._release()

    def agent_left(self, reason: str) -> bool:
        """The agent hung up or was lost: a transfer dialling goes on without it
        (True: the call stays up)."""
        if self.state not in (DIALLING, ANSWERING):
            return False
        was_warm, self.warm = self.warm, False
        self.call.session.end_agent(reason)
        if was_warm:
            self.call.session.ring_caller()
            if self.state == DIALLING and self._early and not self._early[0].finished:
                self._point_early()
        return True

    # -- early media -------------------------------------------------------------------------
    def _early_media(self, leg: UacLeg, sdp: bytes) -> None:
        if self._early is not None and not self._early[0].finished:
            return  # this leg's, or another fork's, early media holds the relay
        self._early = (leg, sdp)
        if not self.warm:
            self._point_early()

    def _point_early(self) -> None:
        leg, sdp = self._early

        def played(_):  # (unless answered, failed or ended meanwhile)
            if self.state == DIALLING and self._early is not None and self._early[0] is leg:
                d = self.service.media.answer(self._media_id, CALLER_TAG, leg.local_tag, sdp)
                d.addErrback(refused)

        def refused(failure):
            log.info("transfer of {call_id}: the relay refused the human's early SDP: "
                     "{error}", call_id=self.call.call_id, error=failure.getErrorMessage())
            if self._early is not None and self._early[0] is leg:
                self._early = None

        self.call.session.early_media().addCallback(played)

    # -- endings -----------------------------------------------------------------------------
    def _fail(self, code: int, outcome: str) -> None:
        if self.state not in (DIALLING, ANSWERING):
            return
        self.state = FAILED
        self._release()
        for leg in self.legs:
            leg.cancel()
        log.info("transfer of {call_id} to {target} failed: {code} {outcome}",
                 call_id=self.call.call_id, target=self.target, code=code, outcome=outcome)
        if self.warm:
            self.call.session.transfer_failed(self.target, code, outcome)
        else:
            self.call.end("switch", "transfer-failed")

    def _best_failure(self) -> tuple[int, str]:
        """Busy if anyone was busy, else no answer if anyone did not answer, else the
        last failure."""
        for outcome in ("busy", "no-answer"):
            for failure in self._failures:
                if failure.outcome == outcome:
                    return failure.code, outcome
        if self._failures:
            return self._failures[-1].code, self._failures[-1].outcome
        return 503, "failed"

    def _release(self) -> None:
        admissions, self._admissions = self._admissions, {}
        for admission in admissions.values():
            admission.release()


def restrict_offer(sdp: bytes, customer_sdp: bytes,
                   codecs: tuple[str, ...] = DEFAULT_PREFERENCE) -> bytes:
    """The relay's offer for the human with, on the customer's audio stream, only the
    codec the customer uses with the switch and telephone-event (the relay does not
    transcode: a G.722 or Opus customer reaches only a human offering that codec); the
    other streams are declined (port 0). Unchanged when the customer's SDP names no
    codec an agent call takes."""
    try:
        choice = choose_audio(parse_sdp(customer_sdp), codecs)
        offer = parse_sdp(sdp)
    except SdpError:
        return sdp
    keep = {str(choice.payload_type)}
    if choice.event_payload_type is not None:
        keep.add(str(choice.event_payload_type))
    for index, media in enumerate(offer.media):
        if index != choice.index:
            media.port = 0
            continue
        fields = media.lines[0].value.split()
        media.lines[0] = Line("m", " ".join(fields[:3] + [f for f in fields[3:] if f in keep]),
                              media.lines[0].eol)
        media.lines[:] = [line for line in media.lines
                          if not _names_another_format(line, keep)]
    return bytes(offer)


def _names_another_format(line: Line, keep: set[str]) -> bool:
    if line.kind != "a":
        return False
    name, colon, rest = line.value.partition(":")
    if not colon or name.strip() not in ("rtpmap", "fmtp", "rtcp-fb"):
        return False
    fmt = rest.strip().split(" ", 1)[0]
    return fmt != "*" and fmt not in keep
