"""One proxied INVITE (Kamailio tm's cell): a server transaction and N client
branches. Targets are tried in the route's order; a user target forks in parallel to
its contacts, a trunk target tries its gateways one after another; the best final
response is chosen across branches (RFC 3261 §16.7) and failover moves on for the
codes the plan allows."""

from dataclasses import dataclass, field

from twisted.logger import Logger

from ..sip.message import Request, Response, make_cancel, make_response
from ..sip.transport import Peer
from .attempts import MAX_FORKS, Attempt
from .caller_id import apply_presentation, strip_identity
from .dialogs import CallRecord, dialog_from_answer
from .media_control import requires_srtp, signalling_secure
from .ports import IGNORE_RESPONSES
from .proxy_media import carries_sdp
from .proxy_routes import (alias_contact, is_sips, proxy_branch, record_route_value,
                           strip_own_credentials)

log = Logger()


@dataclass(frozen=True)
class ProxyConfig:
    ring_timeout: float = 60.0  # a target that has not answered by then is given up
    timer_c: float = 180.0  # RFC 3261 §16.6: more than 3 minutes after a provisional
    failover_codes: frozenset = frozenset({408, 480} | set(range(500, 600)))
    max_forks: int = MAX_FORKS  # parallel branches of one call to a user's contacts (best q first)


@dataclass
class Leg:
    """A client branch of the call (services.ports.ClientHandler)."""

    call: "ProxyCall"
    attempt: Attempt
    request: Request
    key: object = None
    provisional: bool = False
    final: Response | None = None
    cancel_wanted: bool = False
    cancelled: bool = False
    auth_tried: bool = False
    timer_c: object = None

    def response_received(self, key, response: Response) -> None:
        self.call.leg_response(self, response)

    def timed_out(self, key) -> None:
        self.call.leg_response(self, make_response(self.request, 408), synthetic=True)

    def transport_failed(self, key) -> None:
        self.call.leg_response(self, make_response(self.request, 503), synthetic=True)


@dataclass
class ProxyCall:
    proxy: object  # the Proxy that owns it (stack, clock, helpers, bookkeeping)
    server_key: object
    invite: Request
    source: Peer
    plan: object  # call_routing.CallPlan
    record: CallRecord
    targets: list = field(default_factory=list)
    groups: list = field(default_factory=list)  # pending Attempt groups of this target
    legs: list = field(default_factory=list)  # legs of the current group
    finals: list = field(default_factory=list)  # every final non-2xx so far
    answered: bool = False
    finished: bool = False
    cancelled: bool = False
    ring_timer: object = None
    cseq_offset: int = 0
    branch_counter: int = 0
    media: object = None  # proxy_media.CallMedia
    ingress_region: str | None = None
    original_offer: bytes = b""  # the caller's SDP as it came (the relay rewrites it)
    offered: bool = False
    offered_encryption: str = "none"  # the SRTP the relay's offer in `invite` carries
    own_refusals: list = field(default_factory=list)  # our 503s (limits, agents): kept
    strays: object = None  # stray_answers.StrayAnswers, made for a first 2xx after CANCEL
    caller: object = None  # caller_id.Caller: whose identity headers are believed
    presentations: dict = field(default_factory=dict)  # trunk name -> caller_id.Presentation

    # -- progress through the plan ------------------------------------------------
    def start(self) -> None:
        self.targets = list(self.plan.targets)
        self.original_offer = self.invite.body
        self.next_target()

    def next_target(self) -> None:
        while self.targets and not self.finished:
            target = self.targets.pop(0)
            self.record.route_kind, self.record.route_target = target.kind, target.name
            if target.kind == "reject":
                self.finish(make_response(self.invite, target.code or 403))
                return
            if target.kind == "agent" and self.proxy.answer_with_agent(self, target):
                return  # agent_answered() or agent_failed() comes next
            groups, refusal = self.proxy.expand(self, target)
            if refusal is not None:
                self.finals.append(refusal)
                continue
            self.groups = groups
            encryption = self.proxy.media_encryption(target) or "none"
            if not self.offered or encryption != self.offered_encryption:
                # The relay is asked only when a branch is about to go out, and again
                # (same ports, the caller's SDP) for a target wanting other SRTP.
                if self.offered:
                    self.invite.body = self.original_offer
                self.offered, self.offered_encryption = True, encryption
                self.media.offer(self.invite, self.invite.from_tag or "", self.after_offer,
                                 lambda status: self.finish(make_response(self.invite, status)),
                                 secure=signalling_secure(self.source.transport),
                                 encryption=encryption,
                                 require_srtp=requires_srtp(self.plan.ingress_trunk))
                return
            if self.next_group():
                return
        if not self.finished:
            self.finish(self.best_final())

    def record_routes(self, destination: Peer) -> list[str]:
        """Our Record-Route entries for a branch, top first: one when both sides
        reach us the same way, else one per side (RFC 5658), the callee's on top."""
        stack = self.proxy.stack
        secure = is_sips(self.invite.uri)
        callee_side = record_route_value(stack.local_uri(destination), secure)
        caller_side = record_route_value(stack.local_uri(self.source), secure)
        return [callee_side] if callee_side == caller_side else [callee_side, caller_side]

    def after_offer(self) -> None:
        if not self.finished and not self.next_group():
            self.next_target()

    # -- agent targets (services.agent_calls answers them) -------------------------
    def agent_failed(self, refusal: Response) -> None:
        if self.finished:
            return
        self.finals.append(refusal)
        if refusal.status == 503:  # our own: no agent could take the call (kept as 503)
            self.own_refusals.append(refusal)
        self.next_target()

    def agent_answered(self) -> None:
        self.answered = self.finished = True
        self.cancel_ring_timer()
        self.media.end(lambda stats: None)  # an earlier branch's relay ports, if any
        self.proxy.agent_answered(self)

    def take_admissions(self) -> list:
        """The limit admissions of this call, for the dialog that now owns them."""
        return self.proxy.take_admissions(self)

    def next_group(self) -> bool:
        while self.groups:
            group = self.groups.pop(0)
            self.legs = []
            for attempt in group:
                self.send_leg(attempt)
            if self.legs:
                self.arm_ring_timer()
                return True
        return False

    def send_leg(self, attempt: Attempt, request: Request | None = None) -> None:
        stack = self.proxy.stack
        if request is None:
            request = self.forward_copy(attempt)
        leg = Leg(self, attempt, request)
        self.legs.append(leg)
        self.record.attempts += 1
        if attempt.trunk is not None:
            self.record.trunk = attempt.trunk.name
            self.record.gateway = attempt.gateway.key
            self.record.region = attempt.gateway.region
        leg.key = stack.send_request(request, attempt.destination, leg)

    def forward_copy(self, attempt: Attempt) -> Request:
        """The INVITE as we send it on one branch (RFC 3261 §16.6)."""
        invite = self.invite
        request = Request("INVITE", attempt.uri, invite.headers.copy(), invite.body)
        forwards = invite.max_forwards
        request.headers.set("Max-Forwards", str((70 if forwards is None else forwards) - 1))
        strip_own_credentials(request, self.proxy.domain)  # our own credentials stop here
        presentation = None
        if attempt.trunk is not None:
            presentation = self.presentations.get(attempt.trunk.name)
        hide = presentation is not None and presentation.hide_topology
        if hide:
            # Topology hiding: the carrier sees only us (restore_topology gives the
            # caller its Vias and Record-Routes back on the responses).
            request.headers.remove("Via")
            request.headers.remove("Record-Route")
        for route in reversed(attempt.routes):
            request.headers.add("Route", route, first=True)
        for value in reversed(self.record_routes(attempt.destination)):
            request.headers.add("Record-Route", value, first=True)
        self.branch_counter += 1
        via = self.proxy.stack.via_for(attempt.destination,
                                       branch=proxy_branch(invite, self.branch_counter))
        if hide:
            request.headers.add("Via", via, first=True)
            if "Contact" in request.headers:
                local = self.proxy.stack.local_uri(attempt.destination)
                request.headers.set("Contact", f"<{local}>")
        else:
            request.headers.insert_before("Via", via)
            alias_contact(request, self.source)
        if presentation is not None:
            # Caller-ID policy here; STIR/SHAKEN signs what it asserted, after it.
            apply_presentation(request, presentation, self.proxy.domain)
        elif self.caller is not None and not self.caller.trusted:
            strip_identity(request)
        if attempt.trunk is not None:
            self.proxy.sign(self, request, attempt.trunk)
        request.invalidate()
        return request

    def presentation_of(self, leg: Leg):
        trunk = leg.attempt.trunk
        return None if trunk is None else self.presentations.get(trunk.name)

    def restore_caller_view(self, response: Response, presentation) -> None:
        """A response from a trunk leg whose INVITE the policy changed: the caller
        gets its own From back and, behind topology hiding, its Vias and
        Record-Routes, which the carrier never saw."""
        if presentation.anonymous or presentation.from_number is not None:
            response.headers.set("From", self.invite.headers.get("From"))
        if presentation.hide_topology:
            response.headers.remove("Via")
            for value in reversed(self.invite.headers.values("Via")):
                response.headers.add("Via", value, first=True)
            for value in self.invite.headers.values("Record-Route"):
                response.headers.add("Record-Route", value)

    @staticmethod
    def keep_presentation(dialog, leg: Leg, presentation) -> None:
        """The answered trunk leg's identity and hiding hold for the whole dialog."""
        dialog.hide_caller = presentation.hide_topology
        if presentation.anonymous or presentation.from_number is not None:
            dialog.callee_from = leg.request.headers.get("From")
            dialog.towards_callee.local_uri = dialog.callee_from

    # -- branch responses ------------------------------------------------------------
    def leg_response(self, leg: Leg, response: Response, synthetic: bool = False) -> None:
        # Received or synthesised from our own request, the top Via is ours.
        response.headers.pop_first("Via")
        if self.presentations:
            presentation = self.presentation_of(leg)
            if presentation is not None:
                self.restore_caller_view(response, presentation)
        if not synthetic and self.cseq_offset:
            # The branch was re-sent with credentials: the caller sees its own CSeq.
            response.headers.set("CSeq", f"{self.invite.cseq.number} INVITE")
        response.invalidate()
        status = response.status
        if status < 200:
            self.leg_provisional(leg, response)
            return
        if leg.final is not None and status >= 300:
            return  # a retransmission of a final we have
        if status < 300:
            self.leg_answered(leg, response)
            return
        leg.final = response
        self.clear_timer_c(leg)
        if status in (401, 407) and self.proxy.retry_with_credentials(self, leg, response):
            return
        if status == 503 and leg.attempt.gateway is not None:
            self.proxy.gateway_failed(leg.attempt.gateway)
        if self.answered or self.finished:
            return
        if status >= 600:
            self.cancel_legs("a branch answered 6xx")
            self.finish(response)
            return
        self.finals.append(response)
        if all(l.final is not None for l in self.legs):
            self.group_done()

    def leg_provisional(self, leg: Leg, response: Response) -> None:
        if leg.cancel_wanted and not leg.cancelled:
            self.send_cancel(leg)
        if response.status == 100 or self.finished:
            return
        leg.provisional = True
        alias_contact(response, leg.attempt.destination)
        self.arm_timer_c(leg)
        if self.record.ring_at is None:
            self.record.ring_at = self.proxy.clock.seconds()
        self.media.answer(response, self.invite.from_tag or "", response.to_tag or "",
                          lambda: self.proxy.stack.respond(self.server_key, response))

    def leg_answered(self, leg: Leg, response: Response) -> None:
        self.clear_timer_c(leg)
        if self.finished and not self.answered:
            # Answered after we gave up (cancel or timeout crossed it): end that call.
            self.proxy.hang_up_late_answer(self, leg, response)
            return
        first = not self.answered
        self.answered = True
        leg.final = response
        alias_contact(response, leg.attempt.destination)
        self.cancel_ring_timer()
        late_offer = first and not carries_sdp(self.invite) and carries_sdp(response)
        forward = lambda: self.proxy.stack.respond(self.server_key, response)  # noqa: E731
        if late_offer:
            self.media.offer(response, response.to_tag or "", forward, lambda status: forward())
        else:
            self.media.answer(response, self.invite.from_tag or "", response.to_tag or "",
                              forward)
        if first:
            self.record.answer_at = self.proxy.clock.seconds()
            self.record.final_code = response.status
            self.cancel_legs("another branch answered", keep=leg)
            dialog = dialog_from_answer(
                self.invite, response, self.source, leg.attempt.destination, self.record,
                self.record_routes(leg.attempt.destination), self.cseq_offset)
            dialog.media, dialog.late_offer = self.media, late_offer
            presentation = self.presentation_of(leg) if self.presentations else None
            if presentation is not None:
                self.keep_presentation(dialog, leg, presentation)
            self.proxy.established(self, leg, dialog)
            self.finished = True
            self.release_settled()

    def group_done(self) -> None:
        self.cancel_ring_timer()
        best = self.best_final()
        if self.cancelled or best.status not in self.proxy.config.failover_codes:
            self.finish(best)
        elif not self.next_group():
            self.next_target()

    def best_final(self) -> Response:
        """RFC 3261 §16.7 step 6: 6xx first, else the lowest class; 503 becomes 500;
        challenges of every 401/407 branch are gathered into the one forwarded."""
        if not self.finals:
            return make_response(self.invite, 480)
        six = [r for r in self.finals if r.status >= 600]
        best = six[0] if six else min(self.finals, key=lambda r: r.status // 100)
        if best.status in (401, 407):
            for other in self.finals:
                if other is not best and other.status in (401, 407):
                    for name in ("WWW-Authenticate", "Proxy-Authenticate"):
                        for value in other.headers.values(name):
                            best.headers.add(name, value)
        if best.status == 503 and not any(best is own for own in self.own_refusals):
            # A 503 from downstream says nothing about us (RFC 3261 §16.7 step 6);
            # our own (a trunk limit, with its Retry-After) goes out as it is.
            best.status, best.reason = 500, "Server Internal Error"
        return best

    def finish(self, response: Response) -> None:
        """Send the caller our final answer (non-2xx) and close the books."""
        if self.finished:
            return
        self.finished = True
        self.cancel_ring_timer()
        self.cancel_legs("the call is over")
        self.record.final_code = response.status
        self.proxy.stack.respond(self.server_key, response)
        self.proxy.call_failed(self)
        self.release_settled()

    def release_settled(self) -> None:
        """The caller has its answer: let go of what only mattered until then.
        Transactions keep this call reachable for 32 s more (Timers D and M), and
        thousands of them at a time would otherwise keep their parsed messages."""
        self.finals.clear()
        self.groups = []
        self.targets = []
        for leg in self.legs:
            if leg.final is not None and not leg.final.status < 300:
                leg.request = None

    # -- cancelling ----------------------------------------------------------------------
    def caller_cancelled(self) -> None:
        self.cancelled = True
        self.record.disconnect_side, self.record.disconnect_reason = "caller", "cancel"
        self.finish(make_response(self.invite, 487))

    def cancel_legs(self, why: str, keep: Leg | None = None) -> None:
        for leg in self.legs:
            if leg is keep or leg.final is not None or leg.cancelled:
                continue
            self.clear_timer_c(leg)
            if leg.provisional:
                self.send_cancel(leg)
            else:
                leg.cancel_wanted = True  # RFC 3261 §9.1: wait for a provisional

    def send_cancel(self, leg: Leg) -> None:
        leg.cancelled = True
        cancel = make_cancel(leg.request)
        # (CANCEL's own answers need no handling: the INVITE branch reports the outcome)
        self.proxy.stack.send_request(cancel, leg.attempt.destination, IGNORE_RESPONSES)

    # -- timers --------------------------------------------------------------------------
    def arm_ring_timer(self) -> None:
        self.cancel_ring_timer()
        self.ring_timer = self.proxy.clock.callLater(self.proxy.config.ring_timeout,
                                                     self.ring_timed_out)

    def cancel_ring_timer(self) -> None:
        if self.ring_timer is not None and self.ring_timer.active():
            self.ring_timer.cancel()
        self.ring_timer = None

    def ring_timed_out(self) -> None:
        self.ring_timer = None
        if self.finished or self.answered:
            return
        for leg in self.legs:
            if leg.final is None:
                leg.final = make_response(leg.request, 408)
                leg.final.headers.pop_first("Via")
                leg.final.invalidate()
                self.finals.append(leg.final)
        self.cancel_legs("no answer")
        self.group_done()

    def arm_timer_c(self, leg: Leg) -> None:
        self.clear_timer_c(leg)
        leg.timer_c = self.proxy.clock.callLater(self.proxy.config.timer_c,
                                                 self.timer_c_fired, leg)

    def clear_timer_c(self, leg: Leg) -> None:
        if leg.timer_c is not None and leg.timer_c.active():
            leg.timer_c.cancel()
        leg.timer_c = None

    def timer_c_fired(self, leg: Leg) -> None:
        leg.timer_c = None
        if leg.final is None:
            self.send_cancel(leg)
            self.leg_response(leg, make_response(leg.request, 408), synthetic=True)
