"""The stateful proxy (RFC 3261 §16) as the switch's transaction user for calls:
initial INVITEs go through the dialplan to a ProxyCall; CANCEL, ACK for 2xx and
in-dialog requests follow the dialog; limits, gateway health and call records are
kept as calls start and end."""

from dataclasses import dataclass
from typing import Protocol

from twisted.logger import Logger

from ..sip.dialog import DialogTableFull
from ..sip.ids import new_tag
from ..sip.message import Request, Response, make_response
from ..sip.transport import Peer
from .attempts import ordered_gateways, over_tls, trunk_attempts, user_attempts
from .call_routing import CallPlan, Refuse
from .caller_id import allowed_caller_ids, caller_of_plan, present
from .credential_retry import CannotAnswer, answer_challenge, credentials_of
from .dialogs import CallRecord, Dialog, DialogTable, dialog_from_answer
from .proxy_call import ProxyCall, ProxyConfig
from .in_dialog import InDialogRouter
from .media_owners import MediaOwners
from .ports import IGNORE_RESPONSES
from .proxy_dialogs import RelayedDialog
from .proxy_media import CallMedia
from .proxy_routes import is_loop, is_sips, pop_own_routes, proxy_branch
from .routing import Target
from .stir_verification import screened
from .stray_answers import StrayAnswers

log = Logger()


class AgentAnswering(Protocol):
    """Who answers agent targets (services.agent_calls.AgentCalls); the admin calls
    view reaches the agent calls through the proxy too."""

    def answer(self, call: ProxyCall, agent) -> bool:
        """Take `call` for `agent` (False: agent routes are not enabled here)."""

    def __len__(self) -> int: ...

    def active_calls(self) -> list[dict]: ...

    def hang_up(self, call_id: str, reason: str, side: str = "agent") -> bool: ...

    def finish(self, call_id: str, reason: str) -> bool: ...


class _NoAgentCalls:
    """Agent routes not enabled: agent targets are passed over (503)."""

    def answer(self, call: ProxyCall, agent) -> bool:
        return False

    def __len__(self) -> int:
        return 0

    def active_calls(self) -> list[dict]:
        return []

    def hang_up(self, call_id: str, reason: str, side: str = "agent") -> bool:
        return False

    def finish(self, call_id: str, reason: str) -> bool:
        return False


NO_AGENT_CALLS: AgentAnswering = _NoAgentCalls()


@dataclass(slots=True)
class Verifying:
    """An INVITE from a trunk whose Identity is being verified (no branch yet)."""

    server_key: object
    invite: Request
    plan: CallPlan
    since: float
    cancelled: bool = False


class Proxy:
    def __init__(self, stack, clock, router, location, snapshot_source, *, domain: str,
                 config: ProxyConfig = ProxyConfig(), limiter=None, gateway_order=None,
                 gateway_health=None, on_call_end=None, metrics=None, is_our_address=None,
                 media=None, agent_calls: AgentAnswering = NO_AGENT_CALLS,
                 media_owners: MediaOwners | None = None,
                 dialog_router: InDialogRouter | None = None,
                 signing=None, verification=None):
        self.stack = stack
        self.clock = clock
        self.config = config
        # Every call type's dialogs are matched in the one router (services.in_dialog).
        self.dialog_router = dialog_router if dialog_router is not None \
            else InDialogRouter(stack)
        self.dialogs = DialogTable(self.dialog_router)
        self._router = router
        self._location = location
        self._snapshot = snapshot_source
        self._domain = domain
        self.domain = domain  # also the realm our callers authenticate in
        self._limiter = limiter
        self._gateway_order = gateway_order
        self._health = gateway_health
        self._on_call_end = on_call_end
        self._metrics = metrics
        self.is_ours = is_our_address or (lambda host, port: False)
        self._calls: dict[tuple, ProxyCall] = {}
        self._admissions: dict[int, list] = {}
        self._media = media
        self.agent_calls = agent_calls
        # Every call type registers its media here; the relay's events go through it.
        self.media_owners = media_owners if media_owners is not None else MediaOwners()
        # STIR/SHAKEN (services.stir_signing / stir_verification), when configured;
        # INVITEs from trunks waiting for their Identity's certificate, by call key.
        self._signing = signing
        self._verification = verification
        self._verifying: dict[tuple, Verifying] = {}
        if media is not None:
            media.set_listener(self.media_owners.timed_out)

    # -- entry points (from the dispatcher) ------------------------------------------
    def initial_invite(self, key, request: Request, source: Peer) -> None:
        # A pre-loaded Route naming us (a phone's outbound proxy setting) is ours to
        # consume (RFC 3261 §16.4): it never reaches the callee or a trunk.
        pop_own_routes(request, self.is_ours)
        if is_loop(request, self.is_ours):
            self.stack.respond(key, make_response(request, 482, to_tag=new_tag()))
            return
        if request.max_forwards == 0:
            self.stack.respond(key, make_response(request, 483, to_tag=new_tag()))
            return
        plan = self._router.decide(request, source, self.clock.seconds())
        if isinstance(plan, Refuse):
            # Refused before any 100 Trying: the caller keeps retransmitting until it
            # hears the final, so the final needs no Timer G copies (no amplification
            # of a challenge to an unauthenticated or forged source).
            if plan.log:
                log.info("refused INVITE {call_id}: {why}", call_id=request.call_id,
                         why=plan.log)
            response = make_response(request, plan.status, plan.reason, to_tag=new_tag())
            for name, value in plan.headers:
                response.headers.add(name, value)
            self.stack.respond(key, response)
            return
        self.stack.respond(key, make_response(request, 100))
        if plan.ingress_trunk is not None and self._verification is not None:
            self._verify_then_start(key, request, source, plan)
            return
        self._start(key, request, source, plan)

    def _verify_then_start(self, key, request: Request, source: Peer, plan: CallPlan) -> None:
        """Route a trunk's call once its Identity is verified (the fetch of a
        certificate is bounded by the edge); a CANCEL meanwhile ends it."""
        call_key = self._call_key(request)
        waiting = self._verifying[call_key] = Verifying(key, request, plan,
                                                        self.clock.seconds())
        d = self._verification.verify(request, plan.ingress_trunk.number_format)

        def verified(verification):
            if self._verifying.get(call_key) is waiting:
                del self._verifying[call_key]
            if waiting.cancelled:
                return
            screened_plan = screened(plan, self._snapshot().number(plan.did), verification)
            self._start(key, request, source, screened_plan)

        def failed(failure):
            log.failure("starting {call_id}", failure, call_id=request.call_id)
            self.stack.respond(key, make_response(request, 500, to_tag=new_tag()))

        d.addCallback(verified).addErrback(failed)

    def _start(self, key, request: Request, source: Peer, plan: CallPlan) -> None:
        record = CallRecord(request.call_id, plan.direction, plan.caller, plan.dialled,
                            self.clock.seconds(), did=plan.did,
                            trunk=plan.ingress_trunk.name if plan.ingress_trunk else None)
        verification = plan.notes.get("verification")
        if verification is not None:
            record.verstat, record.attestation = verification.verstat, verification.attestation
        call = ProxyCall(self, key, request, source, plan, record)
        call.caller = caller_of_plan(plan)
        call.ingress_region = self.ingress_region(plan, source)
        call.media = CallMedia(self._media, request.call_id,
                               self.media_region(plan, call.ingress_region))
        if hasattr(self._media, "call_planned"):  # a recorder (edge.media.recording_source)
            self._media.call_planned(request.call_id, plan.did)
        self._admissions[id(call)] = []
        if plan.ingress_trunk is not None and self._limiter is not None:
            admission = self._limiter.acquire(plan.ingress_trunk, "inbound")
            if not admission.admitted:
                response = make_response(request, 503, to_tag=new_tag())
                response.headers.add("Retry-After", str(admission.retry_after))
                record.final_code = 503
                record.disconnect_reason = f"limit:{admission.reason}"
                self.stack.respond(key, response)
                self._close(call)
                return
            self._admissions[id(call)].append(admission)
        self._calls[self._call_key(request)] = call
        try:
            call.start()
        except Exception:
            # The endpoint answers the request (400/500) and frees its transaction;
            # the call must not stay behind in the table keyed by the caller's input.
            if self._calls.get(self._call_key(request)) is call:
                del self._calls[self._call_key(request)]
            call.finished = True
            self._close(call)
            raise

    def cancel(self, key, request: Request) -> None:
        waiting = self._verifying.pop(self._call_key(request), None)
        if waiting is not None:  # still verifying: no branch went out yet
            waiting.cancelled = True
            self.stack.respond(key, make_response(request, 200))
            self.stack.respond(waiting.server_key, make_response(waiting.invite, 487,
                                                                 to_tag=new_tag()))
            plan = waiting.plan
            self._write_record(CallRecord(
                request.call_id, plan.direction, plan.caller, plan.dialled, waiting.since,
                did=plan.did, trunk=plan.ingress_trunk.name, final_code=487,
                disconnect_side="caller", disconnect_reason="cancel",
                end_at=self.clock.seconds()), None)
            return
        call = self._calls.get(self._call_key(request))
        if call is None or call.finished:
            self.stack.respond(key, make_response(request, 481))
            return
        self.stack.respond(key, make_response(request, 200))
        call.caller_cancelled()

    def in_dialog(self, key, request: Request, source: Peer) -> None:
        """A request with a To tag: its dialog's owner has it, else 481. Only requests
        of a dialog we saw established are relayed: a Call-ID with forged tags (or
        none of ours) never reaches the other party."""
        self.dialog_router.request(key, request, source)

    def ack(self, request: Request, source: Peer) -> None:
        """ACK for a 2xx travels end to end: its dialog's owner has it (anything else
        is dropped)."""
        self.dialog_router.ack(request, source)

    def stray_response(self, response: Response) -> None:
        """A retransmitted 2xx whose transaction is gone: forward it statelessly
        (RFC 3261 §16.7 / RFC 6026) when the Via below ours names where it goes."""
        if response.status // 100 != 2 or len(response.vias) < 2:
            return
        if self.dialogs.get(response.call_id) is None:
            return  # no call of ours: relaying it would reflect it to any Via named
        top = response.vias[0]
        if not self.is_ours(top.host, top.port or 5060):
            return
        response.headers.pop_first("Via")
        response.invalidate()
        via = response.top_via
        host = via.params.get("received") or via.host
        if host == "255.255.255.255":
            return  # never forward to broadcast (RFC 4475 §3.3.10)
        rport = via.params.get("rport")
        port = int(rport) if rport else (via.port or 5060)
        self.stack.send_stateless(response, Peer(via.transport.lower(), host, port))

    # -- helpers the calls use ------------------------------------------------------------
    def expand(self, call: ProxyCall, target: Target):
        """Attempt groups for one target, or a refusal standing for it."""
        if target.kind == "user":
            attempts = over_tls(user_attempts(
                self._location.lookup(f"sip:{target.name}@{self._domain}"), "",
                self.config.max_forks, target=target), is_sips(call.invite.uri))
            if not attempts:
                return [], make_response(call.invite, 480)
            return [attempts], None
        if target.kind == "trunk":
            trunk = self._snapshot().trunks.get(target.name)
            if trunk is None or not trunk.enabled or not trunk.gateways:
                return [], make_response(call.invite, 503)
            refusal = self._present_caller(call, trunk)
            if refusal is not None:
                return [], refusal
            if self._limiter is not None:
                admission = self._limiter.acquire(trunk, "outbound")
                if not admission.admitted:
                    refusal = make_response(call.invite, 503)
                    refusal.headers.add("Retry-After", str(admission.retry_after))
                    call.own_refusals.append(refusal)
                    call.record.trunk = trunk.name
                    call.record.disconnect_reason = f"limit:{admission.reason}"
                    return [], refusal
                self._admissions[id(call)].append(admission)
            attempts = over_tls(trunk_attempts(trunk, call.plan.dialled, self._gateway_order,
                                               call.ingress_region, target=target),
                                is_sips(call.invite.uri))
            return [[attempt] for attempt in attempts], None
        log.info("agent target {name} for {call_id}: agent routes are not enabled",
                 name=target.name, call_id=call.invite.call_id)
        return [], make_response(call.invite, 503)

    def sign(self, call: ProxyCall, request: Request, trunk) -> None:
        """STIR/SHAKEN: our Identity on a branch to a trunk that wants it."""
        if self._signing is not None:
            self._signing.sign_proxied(request, call.plan, trunk)

    def media_encryption(self, target: Target) -> str | None:
        """The SRTP a trunk target's leg gets from the relay (its media_encryption);
        None for other targets (plain RTP)."""
        if target.kind != "trunk":
            return None
        trunk = self._snapshot().trunks.get(target.name)
        return trunk.media_encryption if trunk is not None else None

    def _present_caller(self, call: ProxyCall, trunk) -> Response | None:
        """The caller-ID policy toward `trunk` (services.caller_id), kept for the
        call's branches to it; a 403 when the caller has no number to present."""
        caller = call.caller
        allowed = allowed_caller_ids(self._snapshot(), caller.kind, caller.name)
        presentation = present(caller, allowed, call.invite, trunk)
        if presentation.refuse is not None:
            log.info("{caller} has no caller ID to present to trunk {trunk} ({call_id})",
                     caller=caller.name, trunk=trunk.name, call_id=call.invite.call_id)
            return make_response(call.invite, presentation.refuse, "Caller ID Not Allowed")
        call.presentations[trunk.name] = presentation
        return None

    def answer_with_agent(self, call: ProxyCall, target: Target) -> bool:
        """Hand the call to the agent service; False when that cannot even start."""
        agents = self._snapshot().agents
        agent = agents.get(target.name)
        backup = agents.get(target.backup_agent) if target.backup_agent else None
        return agent is not None and self.agent_calls.answer(call, agent, backup)

    def agent_answered(self, call: ProxyCall) -> None:
        self._calls.pop(self._call_key(call.invite), None)

    def take_admissions(self, call: ProxyCall) -> list:
        return [a.release for a in self._admissions.pop(id(call), [])]

    def retry_with_credentials(self, call: ProxyCall, leg, response: Response) -> bool:
        credentials = credentials_of(leg.attempt.trunk)
        if credentials is None or leg.auth_tried:
            return False
        try:
            name, value = answer_challenge(response, credentials, "INVITE", leg.request.uri)
        except CannotAnswer as exc:
            log.info("trunk {trunk}: {error}", trunk=leg.attempt.trunk.name, error=exc)
            return False
        request = Request("INVITE", leg.request.uri, leg.request.headers.copy(), leg.request.body)
        request.headers.set("CSeq", f"{leg.request.cseq.number + 1} INVITE")
        request.headers.pop_first("Via")
        call.branch_counter += 1
        request.headers.insert_before("Via", self.stack.via_for(
            leg.attempt.destination, branch=proxy_branch(call.invite, call.branch_counter)))
        request.headers.set(name, value)
        request.invalidate()
        call.legs.remove(leg)
        call.cseq_offset += 1
        call.send_leg(leg.attempt, request)
        call.legs[-1].auth_tried = True
        return True

    def gateway_failed(self, gateway) -> None:
        if self._health is not None:
            self._health.mark_suspect(gateway.key)

    def established(self, call: ProxyCall, leg, dialog: Dialog) -> None:
        self._calls.pop(self._call_key(call.invite), None)
        dialog.release.extend(a.release for a in self._admissions.pop(id(call), []))
        try:
            self.dialogs.add(dialog, RelayedDialog(self, dialog))
        except DialogTableFull:
            log.warn("no room for the dialog of {call_id}: hanging up", call_id=dialog.call_id)
            self.hang_up(dialog, "dialog-limit")
            return
        dialog.on_silence = lambda idle: self.hang_up(dialog, "media-timeout")
        self.media_owners.watch(dialog.call_id, dialog.on_silence)

    def call_failed(self, call: ProxyCall) -> None:
        self._calls.pop(self._call_key(call.invite), None)
        call.record.end_at = self.clock.seconds()
        if call.record.disconnect_side is None:
            call.record.disconnect_side = "callee"
        if call.record.disconnect_reason is None:
            call.record.disconnect_reason = f"sip:{call.record.final_code}"
        self._close(call)

    def hang_up_late_answer(self, call: ProxyCall, leg, response: Response) -> None:
        """A 2xx that crossed our CANCEL: ACK it and BYE it so no call is left up."""
        dialog = dialog_from_answer(call.invite, response, call.source,
                                    leg.attempt.destination, call.record,
                                    call.record_routes(leg.attempt.destination), call.cseq_offset)
        if call.strays is None:
            call.strays = StrayAnswers(self.stack)
        call.strays.hang_up(response, dialog.towards_callee, leg.attempt.destination,
                            leg.request.cseq.number)

    def end_dialog(self, dialog: Dialog, side: str, reason: str) -> None:
        if dialog.ended:
            return
        dialog.ended = True
        self.dialogs.remove(dialog)
        self.media_owners.forget(dialog.call_id, dialog.on_silence)
        dialog.record.end_at = self.clock.seconds()
        dialog.record.disconnect_side = dialog.record.disconnect_side or side
        dialog.record.disconnect_reason = dialog.record.disconnect_reason or reason
        for release in dialog.release:
            release()
        self._write_record(dialog.record, dialog.media)

    def hang_up(self, dialog: Dialog, reason: str) -> None:
        """End an established call from the middle: BYE to both sides."""
        dialog.record.disconnect_side, dialog.record.disconnect_reason = "switch", reason
        for side in ("caller", "callee"):
            bye, peer = dialog.bye_towards(side, self.stack.via_for(dialog.towards(side)[1]))
            self.stack.send_request(bye, peer, IGNORE_RESPONSES)
        self.end_dialog(dialog, "switch", reason)

    def active_calls(self) -> list[dict]:
        now = self.clock.seconds()
        calls = [{"call_id": c.invite.call_id, "state": "ringing" if c.record.ring_at else "trying",
                  "direction": c.record.direction, "caller": c.record.caller,
                  "callee": c.record.callee, "trunk": c.record.trunk,
                  "duration": now - c.record.start_at} for c in self._calls.values()]
        calls += [{"call_id": d.call_id, "state": "answered", "direction": d.record.direction,
                   "caller": d.record.caller, "callee": d.record.callee,
                   "trunk": d.record.trunk, "duration": now - d.record.start_at}
                  for d in self.dialogs]
        return calls

    # -- internals ------------------------------------------------------------------------
    def _close(self, call: ProxyCall) -> None:
        for admission in self._admissions.pop(id(call), []):
            admission.release()
        call.record.end_at = call.record.end_at or self.clock.seconds()
        self._write_record(call.record, call.media)

    def _write_record(self, record: CallRecord, media) -> None:
        def write(stats):
            record.media_stats = stats
            if self._on_call_end is not None:
                self._on_call_end(record)

        if media is None:
            write(None)
        else:
            media.end(write)

    def ingress_region(self, plan: CallPlan, source: Peer) -> str | None:
        """The region of the gateway the call came in through, if it came from one."""
        if plan.ingress_trunk is None:
            return None
        for gateway in plan.ingress_trunk.gateways:
            if gateway.host == source.host:
                return gateway.region
        return None

    def media_region(self, plan: CallPlan, ingress: str | None) -> str | None:
        """The relay of the first target: its best gateway's region for a trunk,
        the caller's ingress region otherwise (None: the default relay)."""
        regions = self._snapshot().regions
        region = ingress
        if plan.targets and plan.targets[0].kind == "trunk":
            trunk = self._snapshot().trunks.get(plan.targets[0].name)
            if trunk is not None and trunk.gateways:
                gateways = ordered_gateways(trunk, self._gateway_order, ingress)
                region = gateways[0].region if gateways else ingress
        return region if region in regions else None

    def media_timed_out(self, event) -> None:
        """The relay heard no RTP for a while: its owner (this proxy's dialog, an
        agent or outbound call) hangs up."""
        self.media_owners.timed_out(event)

    @staticmethod
    def _call_key(request: Request) -> tuple:
        """CANCEL names its INVITE by Call-ID, From tag and CSeq number (RFC 3261 §9.1)."""
        return request.call_id, request.from_tag, request.cseq.number

    def __len__(self) -> int:
        return len(self._calls) + len(self._verifying) + len(self.dialogs) + len(self.agent_calls)
