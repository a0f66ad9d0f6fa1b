"""Outbound AI calls: the switch dials a number through a trunk and, on answer,
bridges the far end to an AI agent exactly as it does for inbound agent calls.

`originate(to, from_, agent_name, trunk_name=None, custom_parameters=None)` returns
the new call's Call-ID at once; the call then goes through these states:

    queued   waiting for the trunk to admit it (calls-per-second and concurrency
             limits, services.limits.TrunkLimiter)
    trying   the agent's media leg is open (its SDP is our offer: PCMU, PCMA,
             telephone-event, on the relay of the agent's region; SRTP as the trunk's
             media_encryption asks, remade for a next trunk that asks otherwise)
             and the INVITE is out
    ringing  the far end rings (180/183): the agent's WebSocket is opened now, so the
             agent is ready when the far end picks up
    answered the far end answered: its SDP goes to the relay, the agent session begins

Where it goes: a named trunk, else the outbound routes (longest prefix, the route's
trunks in order). Each trunk's gateways are tried in the order gateway health gives
(region of the agent first, then priority and measured round trip). A gateway that
fails before the far end rang (5xx, no response, transport failure) is skipped for the
next one, then the next trunk; a far end that rang, is busy or refuses ends the call.

Campaign pacing. A trunk that refuses a new call (its `max_cps` bucket is empty, or
`max_concurrent` calls are up) does not fail it: the call stays queued and asks again
after the refusal's Retry-After (the trunks of the route are asked in order each
time, so an overflow trunk takes calls the first cannot). A campaign that posts a
thousand calls at once is thus placed at the trunk's rate, roughly in order. A call
that could not be admitted within `max_queue_wait` seconds fails ("limit:cps" or
"limit:concurrent" in its record).

Outcomes land in the call record as `final_code`, `disconnect_side` and
`disconnect_reason`:

    answered         200, then "callee" "bye" (the far end's BYE), "agent" with the
                     agent's reason (its hangup, "agent-closed", "agent-lost"), or
                     "switch" with "machine" (answering-machine detection hung up on
                     a machine, services.amd_calls), "api" (admin API),
                     "media-timeout" (no RTP from the far end for the relay's
                     inactivity timeout), "agent-unavailable" (the
                     socket could not be opened), "media" (an unusable SDP answer) or a
                     transfer's outcome (services.transfers)
    refused          "callee", the far end's final status: "busy" (486, 600),
                     "no-answer" (408, 480, 487) or "failed" (anything else). A 5xx or
                     a failure to reach the gateway before anything rang tries the next
                     gateway or trunk first; the last attempt's outcome is recorded
    ring timeout     each INVITE may go unanswered `ring_timeout` seconds. After any
                     provisional response (100 Trying is enough): CANCEL, "callee" 408
                     "no-answer"; the far end's 487 to the CANCEL is not recorded. Before
                     any: no CANCEL yet (RFC 3261 §9.1; sent if a provisional comes
                     later), 408 "failed", handled as a gateway that never answered (the
                     next gateway or trunk is tried; 408 "failed" if none is left)
    cancelled        "switch" 487: "api", or "agent-unavailable" while it rang
    never dialled    "switch": "api" (dequeued, no status), "limit:cps" or
                     "limit:concurrent" (503, not admitted within `max_queue_wait`),
                     "shutdown" (503, still queued when draining began), "failed" (503
                     when no trunk of the route can take it; when the media cannot be
                     opened, the media error's status, else 503)

Transfers: the agent of an answered outbound call may transfer the far end to a human
(services.transfers) as for inbound calls.

Shutdown (`drain()`, services.drain): new calls are refused with SwitchDraining and the
calls still queued are failed at once ("shutdown", 503 in their records); calls
already dialling, ringing or answered go on until they end.
"""

from twisted.logger import Logger

from ..sip.ids import new_call_id
from ..sip.uri import parse_uri
from .amd_calls import amd_event, amd_view
from .attempts import trunk_attempts
from .caller_id import agent_identity, allowed_caller_ids, as_e164
from .calls.agent_leg import AgentLeg
from .calls.call import Call, CallContext
from .calls.events import Answered, Failed, Ringing, moves_on
from .calls.legs import SipLegs
from .calls.uac_leg import UacLeg
from .credential_retry import credentials_of
from .dialogs import CallRecord
from .media_control import KeysRefused, MediaError, offer_encryption, signalling_secure
from .media_owners import MediaOwners
from .transfer_port import NO_TRANSFERS, TransferRequests
from .webhooks import NO_WEBHOOKS, emit_for

log = Logger()

# Who ended an outbound call, by how the far end's leg ended (calls.events.Ended): a
# far end that let its session timer lapse counts as the callee's ending too.
SIDES = {"remote": "callee", "local": "callee"}

DEFAULT_RING_TIMEOUT = 60.0
DEFAULT_MAX_QUEUE_WAIT = 300.0


class SwitchDraining(Exception):
    """The switch is shutting down: it places no new calls."""


class OriginateRefused(Exception):
    """The call cannot be placed as asked; `field` names the argument at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def check_caller_id(snapshot, agent: str, from_: str, trunks: list[str]) -> None:
    """An agent's outbound call presents one of its caller IDs (services.caller_id);
    an agent without any presents the trunks' default_caller_id. OriginateRefused
    ("from") otherwise: the API says so rather than presenting another number."""
    allowed = allowed_caller_ids(snapshot, "agent", agent)
    if as_e164(from_) in allowed:
        return
    if allowed:
        raise OriginateRefused("from", f"{from_} is not one of agent {agent!r}'s caller IDs "
                                       f"({', '.join(allowed[:5])})")
    if not all(snapshot.trunks[name].default_caller_id for name in trunks):
        raise OriginateRefused("from", f"agent {agent!r} has no caller IDs to present "
                                       "(set its caller_ids) and the trunk no "
                                       "default_caller_id")


# -- the calls ---------------------------------------------------------------------------

class OutboundCall(Call):
    """One outbound agent call: the far end's UAC leg (`sip`) joined to the agent leg,
    and where its dialling stands."""

    def __init__(self, service: "OutboundCalls", call_id: str, record: CallRecord,
                 agent_spec, to: str, from_: str, custom_parameters: dict, trunks: list,
                 queued_at: float, amd=None):
        super().__init__(call_id, record, service.context, service, customer=to, did=from_,
                         sides=SIDES)
        self.service = service
        self.amd = amd  # agent.amd_watch.AmdOptions: answering-machine detection asked
        self.agent_spec = agent_spec  # routing.Agent
        self.to = to
        self.from_ = from_
        self.custom_parameters = custom_parameters
        self.trunks = trunks  # names of the trunks still to try, the current one first
        self.queued_at = queued_at
        self.state = "queued"
        self.attempts: list = []  # gateways of the current trunk left
        self.admission = None
        self.timer = None
        self.rang = False  # the current attempt rang
        self.connecting = None  # the agent socket's Deferred, once asked
        self.encryption = "none"  # the SRTP our offer carries (the attempt's trunk's)
        self.answer_secure = False  # the current attempt's signalling is TLS

    def begin(self) -> None:
        """The far end answered: the agent's audio starts, with the answering-machine
        detector's events when the call asked for detection (services.amd_calls)."""
        if self.amd is None:
            super().begin()
            return
        self.agent.begin(self._agent_ended, self._transfer_requested, amd=self.amd,
                         on_amd=lambda event: amd_event(self.service, self, event))


class OutboundCalls:
    def __init__(self, stack, clock, snapshot_source, sessions, legs: SipLegs, *, domain: str,
                 limiter=None, gateway_order=None, gateway_health=None, on_call_end=None,
                 ring_timeout: float = DEFAULT_RING_TIMEOUT,
                 max_queue_wait: float = DEFAULT_MAX_QUEUE_WAIT,
                 user_agent: str = "softswitch", transfers: TransferRequests = NO_TRANSFERS,
                 media_owners: MediaOwners | None = None, session_timers=None,
                 signing=None, webhooks=NO_WEBHOOKS, allow_sdes_over_insecure: bool = False):
        self.stack = stack
        self._allow_insecure_keys = allow_sdes_over_insecure  # [media]
        self._clock = clock
        self._snapshot = snapshot_source
        self._sessions = sessions  # AgentSessions with open_outbound (edge)
        self._legs = legs  # in-dialog requests reach the legs through it
        self._domain = domain
        self._limiter = limiter
        self._gateway_order = gateway_order
        self._health = gateway_health
        self.ring_timeout = ring_timeout
        self.max_queue_wait = max_queue_wait
        self._user_agent = user_agent
        self._session_timers = session_timers  # sip.session_timer.SessionTimerConfig
        self._signing = signing  # services.stir_signing.CallSigning (STIR/SHAKEN)
        self.webhooks = webhooks  # services.webhooks: call events out
        self.transfers = transfers
        media_owners = media_owners if media_owners is not None else MediaOwners()
        self.context = CallContext(clock, media_owners, transfers, on_call_end)
        self.calls: dict[str, OutboundCall] = {}
        self.draining = False

    def __len__(self) -> int:
        return len(self.calls)

    # -- the API's requests --------------------------------------------------------------
    def originate(self, to: str, from_: str, agent_name: str, trunk_name: str | None = None,
                  custom_parameters: dict | None = None, amd=None) -> str:
        """Place a call from `from_` to `to` (E.164) answered by `agent_name`; its
        Call-ID. OriginateRefused when the agent, the trunk or a route is missing;
        SwitchDraining once the switch is shutting down."""
        if self.draining:
            raise SwitchDraining("the switch is shutting down: it places no new calls")
        snapshot = self._snapshot()
        agent = snapshot.agents.get(agent_name)
        if agent is None:
            raise OriginateRefused("agent", f"agent {agent_name!r} does not exist")
        if trunk_name is not None:
            trunk = snapshot.trunks.get(trunk_name)
            if trunk is None:
                raise OriginateRefused("trunk", f"trunk {trunk_name!r} does not exist")
            if not trunk.enabled or not trunk.gateways:
                raise OriginateRefused("trunk", f"trunk {trunk_name!r} is disabled or has "
                                                "no gateways")
            trunks = [trunk.name]
        else:
            trunks = [t.name for t in snapshot.outbound_trunks(to) if t.gateways]
            if not trunks:
                raise OriginateRefused("to", f"no outbound route for {to}")
        check_caller_id(snapshot, agent.name, from_, trunks)
        now = self._clock.seconds()
        call_id = new_call_id(self._domain)
        record = CallRecord(call_id, "outbound", from_, to, now, route_kind="agent",
                            route_target=agent.name, agent=agent.name, profile=agent.profile)
        call = OutboundCall(self, call_id, record, agent, to, from_,
                            dict(custom_parameters or {}), trunks, now, amd=amd)
        self.calls[call_id] = call
        log.info("outbound call {call_id} to {to} for agent {agent}", call_id=call_id, to=to,
                 agent=agent.name)
        self._admit(call)
        return call_id

    def hang_up(self, call_id: str, reason: str = "api", side: str = "switch") -> bool:
        """End a call in any state: dequeue, cancel while trying or ringing, BYE. The
        admin API's DELETE ("api"), or the relay's inactivity ("media-timeout")."""
        call = self.calls.get(call_id)
        if call is None:
            return False
        code = None if call.state in ("queued", "answered") else 487
        call.end(side, reason, code)
        return True

    def finish(self, call_id: str, reason: str) -> bool:
        """The agent asked (REST) to end its call: an answered call's queued audio
        plays before the BYE; a call not answered yet ends at once."""
        call = self.calls.get(call_id)
        if call is None or (call.agent is not None and call.agent.left):
            return False  # (after a transfer the call is the far end's and the human's)
        if call.state == "answered" and call.agent is not None \
                and call.agent.finish(reason):
            return True
        return self.hang_up(call_id, reason, side="agent")

    def drain(self) -> None:
        """Shutting down: refuse new calls and fail the queued ones ("shutdown", 503);
        the others go on (services.drain waits for them)."""
        self.draining = True
        queued = [call for call in self.calls.values() if call.state == "queued"]
        if queued:
            log.info("shutting down: {n} queued outbound calls are not placed", n=len(queued))
        for call in queued:
            call.close("switch", "shutdown", 503)

    def active_calls(self) -> list[dict]:
        now = self._clock.seconds()
        return [{"call_id": c.call_id, "state": c.state, "direction": "outbound",
                 "caller": c.from_, "callee": c.to, "trunk": c.record.trunk,
                 "agent": c.agent_spec.name, "duration": now - c.record.start_at,
                 "amd": amd_view(c)}
                for c in list(self.calls.values())]

    # -- admission (pacing) -----------------------------------------------------------------
    def _admit(self, call: OutboundCall) -> None:
        call.timer = None
        if call.ended:
            return
        refusals = []
        snapshot = self._snapshot()
        for name in list(call.trunks):
            trunk = snapshot.trunks.get(name)
            if trunk is None or not trunk.enabled or not trunk.gateways:
                call.trunks.remove(name)
                continue
            admission = self._acquire(trunk)
            if admission is None or admission.admitted:
                call.trunks = call.trunks[call.trunks.index(name):]
                self._admitted(call, trunk, admission)
                return
            refusals.append(admission)
        if not refusals:
            call.close("switch", "failed", 503)
            return
        wait = min(r.retry_after for r in refusals)
        now = self._clock.seconds()
        if now + wait > call.queued_at + self.max_queue_wait:
            log.info("outbound call {call_id} not admitted in {seconds:.0f}s", seconds=now
                     - call.queued_at, call_id=call.call_id)
            call.close("switch", f"limit:{refusals[0].reason}", 503)
            return
        call.timer = self._clock.callLater(wait, self._admit, call)

    def _acquire(self, trunk):
        return None if self._limiter is None else self._limiter.acquire(trunk, "outbound")

    def _admitted(self, call: OutboundCall, trunk, admission) -> None:
        call.admission = admission
        call.attempts = trunk_attempts(trunk, call.to, self._gateway_order,
                                       call.agent_spec.region)
        call.state = "trying"
        if call.agent is not None:
            self._dial_next(call)
            return
        info = {"caller": call.from_, "callee": call.to, "did": call.from_,
                "direction": "outbound", "custom_parameters": call.custom_parameters}
        d = self._sessions.open_outbound(call.call_id, call.agent_spec, info)

        def opened(session):
            if call.ended:
                session.stop("cancelled")
                return
            call.agent = AgentLeg(session, call.call_id)
            call.watch_media(session.media_id,
                             lambda idle: self.hang_up(call.call_id, "media-timeout"))
            self._dial_next(call)

        def failed(failure):
            log.info("no media for outbound call {call_id}: {error}", call_id=call.call_id,
                     error=failure.getErrorMessage())
            if not call.ended:
                error = failure.value
                call.close("switch", "failed",
                            error.status_hint if isinstance(error, MediaError) else 503)

        d.addCallbacks(opened, failed)

    # -- dialling ------------------------------------------------------------------------------
    def _dial_next(self, call: OutboundCall, last: Failed | None = None) -> None:
        while not call.attempts:
            self._release(call)
            call.trunks = call.trunks[1:]
            trunk = self._next_trunk(call)
            if trunk is None:
                code = last.code if last is not None else 503
                call.close("callee", last.outcome if last else "failed", code)
                return
            call.attempts = trunk_attempts(trunk, call.to, self._gateway_order,
                                           call.agent_spec.region)
        attempt = call.attempts.pop(0)
        try:
            encryption = offer_encryption(attempt.trunk, attempt.destination.transport,
                                          self._allow_insecure_keys)
        except KeysRefused as exc:
            log.info("outbound call {call_id}: {why}", call_id=call.call_id, why=exc)
            self._dial_next(call, Failed(488, "failed"))
            return
        if encryption != call.encryption:
            # The trunk wants other SRTP than our offer has: remake it (same ports).
            d = call.session.offer_for(encryption)

            def remade(_):
                call.encryption = encryption
                if not call.ended:
                    self._dial(call, attempt)

            def failed(failure):
                log.info("outbound call {call_id}: no offer for {trunk}: {why}",
                         call_id=call.call_id, trunk=attempt.trunk.name,
                         why=failure.getErrorMessage())
                if not call.ended:
                    call.close("switch", "failed", 500)
            d.addCallbacks(remade, failed)
            return
        self._dial(call, attempt)

    def _dial(self, call: OutboundCall, attempt) -> None:
        record = call.record
        call.answer_secure = signalling_secure(attempt.destination.transport)
        record.attempts += 1
        record.trunk, record.gateway = attempt.trunk.name, attempt.gateway.key
        record.region = attempt.gateway.region
        call.rang = False
        local = parse_uri(self.stack.local_uri(attempt.destination))
        number, presented = agent_identity(self._snapshot(), call.agent_spec.name, call.from_,
                                           attempt.trunk, self._domain)
        if number is None:  # the agent lost its caller IDs since the call was queued
            call.close("switch", "caller-id", 403)
            return
        signed = None if self._signing is None else self._signing.identity_for_agent_call(
            number, call.to, call.agent_spec.name, attempt.trunk)
        call.sip = UacLeg(self.stack, self._clock, call, destination=attempt.destination,
                          request_uri=attempt.uri, from_uri=f"sip:{number}@{local.host}",
                          to_uri=attempt.to_uri, offer_sdp=call.session.offer_sdp,
                          call_id=call.call_id, credentials=credentials_of(attempt.trunk),
                          ring_timeout=self.ring_timeout, legs=self._legs,
                          user_agent=self._user_agent, session_timers=self._session_timers,
                          extra_headers=tuple(presented)
                          + ((("Identity", signed),) if signed else ()))
        call.sip.start()

    def _next_trunk(self, call: OutboundCall):
        """The next trunk of the route that admits the call now (failover does not wait)."""
        snapshot = self._snapshot()
        while call.trunks:
            trunk = snapshot.trunks.get(call.trunks[0])
            if trunk is not None and trunk.enabled and trunk.gateways:
                admission = self._acquire(trunk)
                if admission is None or admission.admitted:
                    call.admission = admission
                    return trunk
            call.trunks = call.trunks[1:]
        return None

    # -- calls.call.CallOwner ------------------------------------------------------------
    def setup_event(self, call: OutboundCall, leg: UacLeg, event) -> None:
        if isinstance(event, Ringing):
            call.rang = True
            if call.state == "trying":
                call.state = "ringing"
                call.record.ring_at = self._clock.seconds()
                emit_for(self.webhooks, "call.ringing", call.record)
            self._connect_agent(call)
        elif isinstance(event, Answered):
            self._answered(call, event.sdp)
        elif isinstance(event, Failed):
            if moves_on(event, call.rang):
                if event.code == 503 and call.record.gateway and self._health is not None:
                    self._health.mark_suspect(call.record.gateway)
                self._dial_next(call, event)
            else:
                call.close("callee", event.outcome, event.code)

    def closed(self, call: OutboundCall) -> None:
        call.state = "ended"
        self.calls.pop(call.call_id, None)
        if call.timer is not None and call.timer.active():
            call.timer.cancel()
        call.timer = None
        self._release(call)

    def _connect_agent(self, call: OutboundCall):
        if call.connecting is None:
            call.connecting = call.session.connect()

            def failed(failure):
                if call.ended:
                    return
                log.info("agent {agent} unavailable for outbound call {call_id}: {error}",
                         agent=call.agent_spec.name, call_id=call.call_id,
                         error=failure.getErrorMessage())
                code = None if call.state == "answered" else 487
                call.end("switch", "agent-unavailable", code)

            call.connecting.addErrback(failed)
        return call.connecting

    def _answered(self, call: OutboundCall, sdp: bytes) -> None:
        call.state = "answered"
        call.customer_sdp = sdp
        record = call.record
        record.answer_at = self._clock.seconds()
        record.final_code = 200
        emit_for(self.webhooks, "call.answered", record)
        srtp = {} if call.encryption == "none" else {
            "secure": call.answer_secure, "require_srtp": call.encryption == "sdes",
            "keyed": True}
        taken = call.session.take_answer(sdp, **srtp)

        def unusable(failure):
            if not call.ended:
                log.info("outbound call {call_id}: unusable answer: {error}",
                         call_id=call.call_id, error=failure.getErrorMessage())
                call.end("switch", "media")
            return failure

        taken.addErrback(unusable)
        # Both the far end's media and the agent's socket, then the bridge starts.
        taken.addCallback(lambda _: self._connect_agent(call))
        taken.addCallback(lambda _: None if call.ended else call.begin())
        taken.addErrback(lambda f: None)

    def _release(self, call: OutboundCall) -> None:
        admission, call.admission = call.admission, None
        if admission is not None:
            admission.release()
