"""Agent routes: the switch answers as the UA and hands the call to an AI agent.

On an agent target the caller hears 180 while the agent's WebSocket and the media
endpoint are opened (AgentSessions port, implemented at the edge); the 200 OK goes
out only once the socket is up, so the agent is ready when the caller hears the call
connect. If the agent cannot be reached in time, the route's next target is tried.
After that the call is a dialog of ours: BYE, re-INVITE, UPDATE, INFO (DTMF) and
OPTIONS are answered by the caller's leg, and the agent can hang up. A re-INVITE is answered with our
streams and codec, each direction answering the offer's (hold: sendonly -> recvonly,
inactive -> inactive); the relay follows the caller's new SDP and the agent is told of
a hold or resume (`AgentSession.hold`). A re-INVITE without SDP gets our offer in the
200 and its answer comes in the ACK.

An INVITE without SDP (delayed offer: CUCM, Genesys, SBCs) is answered the same way
with our offer in the 200 (PCMU, PCMA, telephone-event); the agent starts once the
ACK brings the caller's answer (an ACK without one, or an unusable one, gets BYE).

Session timers (RFC 4028, `session_timers`): the INVITE's Session-Expires and Min-SE
are negotiated (422 below our Min-SE), the 200 says who refreshes, and the dialog's
`DialogRefresh` (services.session_refresh) answers or sends the refreshes and ends
the call with BYE ("session-expired") when they stop.

The call is a calls.call.Call joining the caller's SIP leg (calls.uas_leg, which
answers the in-dialog requests, re-offers, holds and session refreshes) to the agent
leg (calls.agent_leg). `legs` is the table of every SIP leg of the switch's own
calls (the UAC legs of outbound calls and transfers too), registered with the
in-dialog router.

An agent's transfer request goes to `transfers` (services.transfers, or
transfer_port.NO_TRANSFERS, which logs it); the call is offered to it as a
`TransferredCall`."""

from twisted.logger import Logger

from ..agent.sip_headers import headers_for_agent
from ..sdp import SdpError, parse_sdp
from ..sdp.agent_answer import choose_audio
from ..sip.ids import new_tag
from ..sip.message import Request, make_response
from ..sip.session_timer import SessionTimerConfig
from ..sip.timers import TimerConfig
from .calls.agent_leg import AgentLeg, AgentSession, AgentSessions
from .calls.call import Call, CallContext
from .calls.events import Answered
from .calls.handoff import asked_by_agent, hand_off
from .calls.legs import SipLegs
from .calls.uas_leg import UasLeg
from .in_dialog import InDialogRouter
from .media_control import MediaRejected, requires_srtp, signalling_secure
from .media_owners import MediaOwners
from .proxy_media import carries_sdp
from .routing import Agent
from .session_refresh import uas_timing
from .transfer_port import NO_TRANSFERS, TransferRequests
from .webhooks import NO_WEBHOOKS, emit_for

log = Logger()

# Who ended an agent call, by how its caller's leg ended (calls.events.Ended).
SIDES = {"remote": "caller", "local": "switch"}


class AgentCalls:
    def __init__(self, stack, clock, sessions: AgentSessions, *, on_call_end=None,
                 connect_timeout: float = 5.0, user_agent: str = "softswitch",
                 timers: TimerConfig = TimerConfig(), media_owners: MediaOwners | None = None,
                 dialog_router: InDialogRouter | None = None,
                 session_timers: SessionTimerConfig | None = None,
                 legs: SipLegs | None = None, transfers: TransferRequests = NO_TRANSFERS,
                 webhooks=NO_WEBHOOKS, snapshot=None):
        self.stack = stack
        self.webhooks = webhooks  # services.webhooks: call events out
        self._clock = clock
        self._sessions = sessions
        self._connect_timeout = connect_timeout
        self._user_agent = user_agent
        self._timers = timers
        media_owners = media_owners if media_owners is not None else MediaOwners()
        self.context = CallContext(clock, media_owners, transfers, on_call_end)
        self._session_timers = session_timers  # RFC 4028 (None: off)
        self.calls: dict[str, Call] = {}  # the answered agent calls, by Call-ID
        # Every SIP leg of the switch's own calls, routed by the one in-dialog router.
        self.legs = legs if legs is not None else SipLegs(
            dialog_router if dialog_router is not None else InDialogRouter(stack))
        self.transfers = transfers
        self._snapshot = snapshot  # the routing snapshot's source: agents by name

    def __len__(self) -> int:
        return len(self.legs)

    # -- answering (called by the ProxyCall that reached an agent target) ---------
    def answer(self, call, agent: Agent, backup: Agent | None = None) -> bool:
        """Take the call (proxy_call.ProxyCall) for `agent`: it hears agent_answered()
        or agent_failed() next (proxy.AgentAnswering). `backup` takes the call over
        if the agent's socket fails beyond its reconnect."""
        self._answer(call, agent, backup)
        return True

    def _answer(self, call, agent: Agent, backup: Agent | None = None) -> None:
        invite = call.invite
        local_tag = new_tag()
        call.record.agent, call.record.profile = agent.name, agent.profile
        if invite.body and not carries_sdp(invite):
            call.agent_failed(make_response(invite, 415, "Unsupported Media Type"))
            return
        if call.original_offer:  # (none: a delayed offer, answered in the ACK)
            refusal = _offer_refusal(invite, call.original_offer)
            if refusal is not None:
                call.agent_failed(refusal)
                return
        timing = None
        if self._session_timers is not None:
            timing, refusal = uas_timing(invite, self._session_timers)
            if refusal is not None:
                call.agent_failed(refusal)
                return
        ringing = make_response(invite, 180, to_tag=local_tag)
        self.stack.respond(call.server_key, ringing)
        if call.record.ring_at is None:
            call.record.ring_at = self._clock.seconds()
            emit_for(self.webhooks, "call.ringing", call.record)
        info = {"caller": call.plan.caller, "callee": call.plan.dialled, "did": call.plan.did,
                "direction": call.plan.direction, "verstat": call.record.verstat,
                "attestation": call.record.attestation,
                "secure": signalling_secure(call.source.transport),  # SDES keys allowed
                "require_srtp": requires_srtp(call.plan.ingress_trunk),
                "backup_agent": backup}
        if agent.sip_headers:  # agent.sip_headers: the INVITE's headers it asked for
            info["sip_headers"] = headers_for_agent(
                invite, agent.sip_headers, call.caller is not None and call.caller.trusted)
        pending = self._sessions.open(invite.call_id, agent, info, call.original_offer)
        timer = self._clock.callLater(self._connect_timeout, pending.cancel)

        def opened(session):
            if timer.active():
                timer.cancel()
            if call.finished:  # the caller gave up while we were connecting
                session.stop("caller-cancelled")
                return
            self._connected(call, session, local_tag, timing)

        def failed(failure):
            if timer.active():
                timer.cancel()
            log.info("agent {agent} unavailable for {call_id}: {why}", agent=agent.name,
                     call_id=invite.call_id, why=failure.getErrorMessage())
            if not call.finished:
                # The media saying no to the offer is the caller's fault (488), not
                # an agent being unavailable (503).
                error = failure.value
                status = error.status_hint if isinstance(error, MediaRejected) else 503
                call.agent_failed(make_response(invite, status))

        pending.addCallbacks(opened, failed)

    def _connected(self, proxied, session: AgentSession, local_tag: str, timing) -> None:
        invite, record = proxied.invite, proxied.record
        call = Call(invite.call_id, record, self.context, self, customer=record.caller,
                    did=record.did or record.callee, sides=SIDES)
        call.customer_sdp = proxied.original_offer
        call.agent = AgentLeg(session, call.call_id)
        session.on_handoff = lambda name, reason: asked_by_agent(call, self._agent(name),
                                                                 reason)
        call.sip = UasLeg(self.stack, self._clock, call, invite=invite,
                          offer=proxied.original_offer, local_tag=local_tag,
                          source=proxied.source, legs=self.legs, user_agent=self._user_agent,
                          session_timers=self._session_timers, timers=self._timers)
        if not call.sip.register():  # no room for another dialog: not answered
            session.stop("switch-full")
            proxied.agent_failed(make_response(invite, 503))
            return
        call.releases = proxied.take_admissions()
        self.calls[call.call_id] = call
        record.answer_at = self._clock.seconds()
        record.final_code = 200
        emit_for(self.webhooks, "call.answered", record)
        proxied.agent_answered()
        call.sip.answer(proxied.server_key, session.answer_sdp, timing)
        call.watch_media(session.media_id,
                         lambda idle: call.end("switch", "media-timeout"))
        if proxied.original_offer:
            call.begin()  # (a delayed offer begins once the ACK brings the answer)

    # -- calls.call.CallOwner ------------------------------------------------------------
    def setup_event(self, call: Call, leg, event) -> None:
        if isinstance(event, Answered):  # the ACK of a delayed-offer call
            self._first_answer(call, event.sdp)

    def closed(self, call: Call) -> None:
        self.calls.pop(call.call_id, None)

    def _first_answer(self, call: Call, sdp: bytes) -> None:
        """The ACK of a delayed-offer call: its SDP answers the offer of our 200."""
        if not sdp:
            log.info("ACK without the SDP answer of {call_id}", call_id=call.call_id)
            call.end("switch", "no-answer-sdp")
            return
        call.customer_sdp = sdp  # (a transfer offers the human the caller's SDP)

        def taken(_):
            if not call.ended:
                call.begin()

        def refused(failure):
            log.info("unusable SDP answer for {call_id}: {why}", call_id=call.call_id,
                     why=failure.getErrorMessage())
            call.end("switch", "bad-sdp")

        call.session.take_answer(sdp).addCallbacks(taken, refused)

    # -- what the admin API asks ----------------------------------------------------------
    def hang_up(self, call_id: str, reason: str, side: str = "agent") -> bool:
        call = self.calls.get(call_id)
        if call is None:
            return False
        call.end(side, reason)
        return True

    def finish(self, call_id: str, reason: str) -> bool:
        """The agent asked (REST) to end its call: BYE once its queued audio played."""
        call = self.calls.get(call_id)
        if call is None or call.agent.left:
            return False  # (after a transfer the call is the caller's and the human's)
        if not call.agent.finish(reason):
            call.end("agent", reason)
        return True

    def handoff(self, call_id: str, agent_name: str, reason: str):
        """Hand the answered call over to the agent named `agent_name`: a Deferred
        (calls.handoff.hand_off), None if no answered call has this Call-ID."""
        call = self.calls.get(call_id)
        if call is None:
            return None
        return hand_off(call, self._agent(agent_name), reason)

    def _agent(self, name: str) -> Agent | None:
        return self._snapshot().agents.get(name) if self._snapshot is not None else None

    def active_calls(self) -> list[dict]:
        """The answered agent calls, as the admin API lists calls."""
        now = self._clock.seconds()
        return [{"call_id": c.call_id, "state": "answered", "direction": c.record.direction,
                 "caller": c.record.caller, "callee": c.record.callee,
                 "trunk": c.record.trunk, "agent": c.record.agent,
                 "duration": now - c.record.start_at} for c in list(self.calls.values())]


def _offer_refusal(invite: Request, offer: bytes):
    """The answer to an offer an agent cannot take, before any socket is opened:
    400 for SDP that does not parse (hostile bytes included), 488 with Warning 305
    (RFC 3261 §20.43) when it offers no G.711 audio. None when the offer is usable."""
    try:
        sdp = parse_sdp(offer)
    except SdpError as exc:
        refusal = make_response(invite, 400, "Bad SDP", to_tag=new_tag())
        refusal.headers.add("Warning", f'399 softswitch "{_printable(str(exc))}"')
        return refusal
    try:
        choose_audio(sdp)
    except SdpError as exc:
        refusal = make_response(invite, 488, to_tag=new_tag())
        refusal.headers.add("Warning", f'305 softswitch "{_printable(str(exc))}"')
        return refusal
    return None


def _printable(text: str) -> str:
    return "".join(c for c in text if c.isprintable() and c.isascii() and c not in '"\\')[:120]
