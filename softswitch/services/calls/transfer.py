"""One transfer of one call to a human (services.transfers has the whole story):
the owner of the UAC legs that ring the human, the early media while they ring, the
bridge on answer (calls.call.Call.bridge) and the failure the agent or the customer
hears."""

from dataclasses import dataclass
from typing import Protocol

from twisted.internet.defer import maybeDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from ...sip.session_timer import SessionTimerConfig
from ...sip.uri import parse_uri
from ..attempts import Attempt
from ..caller_id import agent_identity
from ..credential_retry import credentials_of
from ..dialogs import CallRecord
from ..gateways import GatewayHealth
from ..limits import TrunkLimiter
from ..media_control import KeysRefused, MediaControl, MediaError, offer_encryption
from ..ports import SipStack
from ..webhooks import CallEvents, emit_for
from .bridged import CALLER_TAG, BridgedSession, restrict_offer
from .events import Answered, Ended, Failed, Reoffered, Ringing, moves_on
from .legs import SipLegs
from .uac_leg import UacLeg

log = Logger()

# Transfer states.
DIALLING = "dialling"  # the relay's offer is asked, or legs are out
ANSWERING = "answering"  # the human answered; the relay is being re-pointed
BRIDGED = "bridged"
FAILED = "failed"
ENDED = "ended"  # the call is over (either side hung up, before or after the bridge)


class TransferredCall(Protocol):
    """A call as a transfer sees it (calls.call.Call: agent and outbound calls)."""

    call_id: str
    record: CallRecord
    session: object  # the AgentSession; a BridgedSession once bridged
    transfer: "Transfer | None"  # the Transfer asked last
    customer_sdp: bytes  # the customer's SDP, re-offered to the human
    customer: str  # the customer's number: the From of the call to the human
    did: str | None  # our number on this call
    ended: bool

    def end(self, side: str, reason: str) -> None:
        """BYE the customer; the call ends (its record is written)."""

    def bridge(self, human, session) -> None:
        """The human's leg is answered and `session` (the relay) bridges it."""


class TransferService(Protocol):
    """What a transfer takes from the transfers service (services.transfers)."""

    stack: SipStack
    clock: IReactorTime
    media: MediaControl  # the relay
    legs: SipLegs
    limiter: TrunkLimiter | None
    health: GatewayHealth | None
    ring_timeout: float
    user_agent: str
    session_timers: SessionTimerConfig | None
    webhooks: CallEvents
    domain: str  # our SIP domain (the host of our identities)
    codecs: tuple[str, ...]  # [agents] codecs: how the customer's codec was chosen

    def snapshot(self):
        """The routing snapshot in force (services.routing.RoutingSnapshot)."""
    signing: object  # services.stir_signing.CallSigning, or None
    allow_sdes_over_insecure: bool  # [media]: our SDES keys may go over plain signalling

    def plan(self, call: TransferredCall, target: str) -> list[list[Attempt]]:
        """Groups of attempts, or TransferRefused."""


class TransferRefused(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


@dataclass
class _Failure:
    code: int
    outcome: str


class Transfer:
    """One transfer of one call (the owner of its UAC legs)."""

    def __init__(self, service: "TransferService", call: TransferredCall, target: str, warm: bool):
        self.service = service
        self.call = call
        self.target = target
        self.warm = warm
        self.state = DIALLING
        self.groups: list[list[Attempt]] = []
        self.legs: list[UacLeg] = []
        self.human: UacLeg | None = None
        self.offer = b""
        self._encryption: str | None = None  # what `offer` offers (a trunk's SRTP mode)
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
        self._next_group()

    def _offer_for(self, group: list[Attempt]) -> None:
        """Ask the relay for the offer `group` gets, then ring it. The offer is made
        again for a group whose SRTP differs from the last one's (a failover from a
        plain trunk to an "sdes" one): same ports, keys or not."""
        encryptions, kept = set(), []
        for attempt in group:
            try:
                encryptions.add(offer_encryption(attempt.trunk, attempt.destination.transport,
                                                 self.service.allow_sdes_over_insecure))
                kept.append(attempt)
            except KeysRefused as exc:
                log.info("transfer of {call_id}: {why}", call_id=self.call.call_id, why=exc)
                self._failures.append(_Failure(488, "failed"))
        group = kept
        if not group:
            self._next_group()
            return
        encryption = max(encryptions, key=("none", "optional", "sdes").index)
        if self.offer and encryption == self._encryption:
            self._ring(group)
            return

        def offered(sdp: bytes) -> None:
            if self.state != DIALLING:
                return
            self.offer = restrict_offer(sdp, self.call.customer_sdp, self.service.codecs)
            self._encryption = encryption
            self._ring(group)

        d = self.service.media.offer(self._media_id, CALLER_TAG, self.call.customer_sdp,
                                     encryption=encryption)
        d.addCallbacks(offered, self._media_failed)

    def _media_failed(self, failure) -> None:
        error = failure.value
        log.info("transfer of {call_id}: the relay refused: {error}",
                 call_id=self.call.call_id, error=failure.getErrorMessage())
        self._fail(error.status_hint if isinstance(error, MediaError) else 500, "failed")

    def _next_group(self) -> None:
        while self.groups and self.state == DIALLING:
            group = [attempt for attempt in self.groups.pop(0)
                     if attempt.trunk is None or self._admit(attempt.trunk)]
            if group:
                self._offer_for(group)
                return
        if self.state == DIALLING:
            self._fail(*self._best_failure())

    def _ring(self, group: list[Attempt]) -> None:
        service = self.service
        legs = []
        # The headers the agent set on its transfer (agent.sip_headers).
        extra = tuple(getattr(self.call.session, "transfer_headers", ()))
        for attempt in group:
            local = parse_uri(service.stack.local_uri(attempt.destination))
            number, presented = self.call.customer, ()
            if attempt.trunk is not None:  # the agent presents its caller IDs only
                number, presented = agent_identity(
                    service.snapshot(), self.call.record.agent, number, attempt.trunk,
                    service.domain)
                if number is None:
                    self._failures.append(_Failure(403, "failed"))
                    continue
            leg = UacLeg(
                service.stack, service.clock, self, destination=attempt.destination,
                request_uri=attempt.uri, to_uri=attempt.to_uri, offer_sdp=self.offer,
                from_uri=f"sip:{number}@{local.host}", routes=attempt.routes,
                credentials=credentials_of(attempt.trunk),
                ring_timeout=service.ring_timeout, follow_contact=attempt.follow_contact,
                legs=service.legs, user_agent=service.user_agent,
                session_timers=service.session_timers,
                extra_headers=tuple(presented) + self._identity(attempt) + extra)
            if attempt.gateway is not None:
                self._gateways[id(leg)] = attempt.gateway.key
            legs.append(leg)
        if not legs:  # (no caller ID to present to any of them)
            self._next_group()
            return
        self.legs = legs
        for leg in legs:
            if self.state == DIALLING and not leg.finished:
                leg.start()

    def _identity(self, attempt: Attempt) -> tuple[tuple[str, str], ...]:
        """STIR/SHAKEN: our Identity on a leg to a trunk that signs."""
        signing = self.service.signing
        if signing is None or attempt.trunk is None:
            return ()
        dest = attempt.to_uri or attempt.uri
        number = parse_uri(dest).user or ""
        value = signing.identity_for_transfer(self.call.customer, self.call.did,
                                              number.split(";", 1)[0],
                                              self.call.record.agent, attempt.trunk)
        return (("Identity", value),) if value else ()

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
            self.call.bridge(leg, BridgedSession(self.service.media, self._media_id,
                                                 getattr(session, "answer_sdp", b""), stats))
            self.call.record.transfer_target = self.target
            emit_for(self.service.webhooks, "call.transferred", self.call.record,
                     target=self.target, warm=self.warm)
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
