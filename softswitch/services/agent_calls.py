"""Agent routes: the switch answers as the UA and hands the call to an AI agent.

On an agent target the caller hears 180 while the agent's WebSocket and the media
endpoint are opened (AgentSessions port, implemented at the edge); the 200 OK goes
out only once the socket is up, so the agent is ready when the caller hears the call
connect. If the agent cannot be reached in time, the route's next target is tried.
After that the call is a dialog of ours: BYE, re-INVITE, UPDATE, INFO (DTMF) and
OPTIONS are answered here, and the agent can hang up. A re-INVITE is answered with our
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

The dialogs the switch holds as a UAC (outbound agent calls, the human of a transfer:
services.uac_leg) are kept in `legs`; `owns`, `in_dialog` and `ack` serve them too, so
the proxy hands their in-dialog requests here like those of the answered calls.

An agent's transfer request goes to `transfers` (services.transfers, or
transfer_port.NO_TRANSFERS, which logs it); the answered call is offered to it as a `TransferredCall`
(`agent_dialog.InboundCall`)."""

from dataclasses import dataclass
from typing import Protocol

from twisted.logger import Logger

from ..agent.sip_headers import headers_for_agent
from ..media.dtmf import parse_info_dtmf
from ..sdp import SdpError, check_answer, parse_sdp
from ..sdp.agent_answer import choose_audio
from ..sdp.reoffer import answer_reoffer, offer_from_answer, offer_holds
from ..sip.dialog import Dialog as SipDialog
from ..sip.ids import new_tag
from ..sip.message import Request, make_response
from ..sip.session_timer import UAS, SessionTimerConfig
from ..sip.timers import TimerConfig
from ..sip.transport import Peer, response_destination
from .agent_dialog import AgentDialog, InboundCall, Refreshed
from .dialog_requests import ALLOW, answer_request, refresh_ok
from .in_dialog import InDialogRouter
from .media_control import MediaRejected
from .media_owners import MediaOwners
from .ports import IGNORE_RESPONSES
from .proxy_media import carries_sdp
from .routing import Agent
from .session_refresh import DialogRefresh, add_timing, uas_timing
from .transfer_port import NO_TRANSFERS, TransferRequests
from .uac_leg import UacLegs

log = Logger()



def _quoted(text: str) -> str:
    return text.replace("\\", "").replace('"', "'")[:200]


class AgentSession(Protocol):
    """One call's live connection to its agent (edge: WebSocket + RTP + bridge)."""

    answer_sdp: bytes  # our SDP answer to the caller's offer

    def begin(self, on_end, on_transfer) -> None:
        """The caller is connected: start the audio; on_end(reason) when the agent
        hangs up or is lost, on_transfer(target, warm) when it asks for a transfer."""

    def dtmf(self, digit: str) -> None: ...

    def finish(self, reason: str) -> bool:
        """The agent asked to end the call: on_end(reason) once what it queued has
        played (bounded); False if the audio has not begun (end it at once)."""

    agent_left: bool  # a transfer (or a close) took the agent off the call

    def take_answer(self, sdp: bytes):
        """Delayed offer: the caller's SDP answer (in the ACK) to `answer_sdp`, which
        was then our offer; a Deferred (failure: unusable)."""

    def hold(self, held: bool) -> None:
        """The caller held (or resumed) the call: tell the agent, send no audio."""

    def reoffer(self, sdp: bytes):
        """The caller's new SDP (hold, resume, moved address) for the media; a Deferred."""

    def stop(self, reason: str):
        """Say goodbye to the agent and free the media; a Deferred of stats dict."""

    # For transfers (services.transfers):
    media_id: str  # the relay call carrying the caller's audio (MediaControl call id)

    def end_agent(self, reason: str) -> None:
        """Say goodbye to the agent and close its socket; the caller hears what the
        agent had queued, then silence (or `ring_caller`'s ringback), until `stop`."""

    def ring_caller(self) -> None:
        """A cold transfer is dialling: once the queued audio has played, the caller
        hears ringback."""

    def early_media(self):
        """The human has early media: a Deferred that fires once the queued audio has
        been sent, when the relay is to be pointed at the human; from then on the
        session falls silent when the human's RTP arrives (until `ring_caller`)."""

    def release_media(self) -> None:
        """Stop terminating the caller's audio here: the relay's other side goes back
        to its socket (bridged to whoever was answered on it); `stop` then leaves
        the relay call alone."""

    def transfer_failed(self, target: str, code: int, outcome: str) -> None:
        """Tell the agent its transfer did not go through (warm transfers)."""


class AgentSessions(Protocol):
    def open(self, call_id: str, agent: Agent, info: dict, offer_sdp: bytes):
        """A Deferred AgentSession, or a failure if the agent or media is unavailable.
        An empty `offer_sdp` (delayed offer): the session's `answer_sdp` is our offer
        and `take_answer` takes the caller's answer."""


class AgentCalls:
    def __init__(self, stack, clock, sessions: AgentSessions, *, on_call_end=None,
                 connect_timeout: float = 5.0, user_agent: str = "softswitch",
                 timers: TimerConfig = TimerConfig(), media_owners: MediaOwners | None = None,
                 dialog_router: InDialogRouter | None = None,
                 session_timers: SessionTimerConfig | None = None,
                 legs: UacLegs | None = None, transfers: TransferRequests = NO_TRANSFERS):
        self.stack = stack
        self._clock = clock
        self._sessions = sessions
        self._on_call_end = on_call_end
        self._connect_timeout = connect_timeout
        self._user_agent = user_agent
        self._timers = timers
        self._media_owners = media_owners if media_owners is not None else MediaOwners()
        self._dialog_router = dialog_router if dialog_router is not None \
            else InDialogRouter(stack)
        self._session_timers = session_timers  # RFC 4028 (None: off)
        self.dialogs: dict[str, AgentDialog] = {}
        # Dialogs of ours as UAC (outbound calls, transfers), routed by the same router.
        self.legs = legs if legs is not None else UacLegs(self._dialog_router)
        self.transfers = transfers

    def __len__(self) -> int:
        return len(self.dialogs) + len(self.legs)

    # -- answering (called by the ProxyCall that reached an agent target) ---------
    def answer(self, call, agent: Agent) -> bool:
        """Take the call (proxy_call.ProxyCall) for `agent`: it hears agent_answered()
        or agent_failed() next (proxy.AgentAnswering)."""
        self._answer(call, agent)
        return True

    def _answer(self, call, agent: Agent) -> None:
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
        info = {"caller": call.plan.caller, "callee": call.plan.dialled, "did": call.plan.did,
                "direction": call.plan.direction}
        if agent.sip_headers:  # services.agent_headers: the INVITE's headers it asked for
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
            self._connected(call, agent, session, local_tag, timing)

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

    def _connected(self, call, agent: Agent, session, local_tag: str, timing) -> None:
        invite = call.invite
        ok = make_response(invite, 200, to_tag=local_tag, body=session.answer_sdp)
        ok.headers.add("Contact", f"<{self.stack.local_uri(call.source)}>")
        ok.headers.add("Content-Type", "application/sdp")
        ok.headers.add("Allow", ALLOW)
        ok.headers.add("Server", self._user_agent)
        if timing is not None:
            add_timing(ok, timing)
        dialog = AgentDialog(
            invite.call_id, SipDialog.as_uas(invite, local_tag), call.source, call.record,
            session, release=call.take_admissions(), offer_sdp=call.original_offer)
        self.dialogs[invite.call_id] = dialog
        self._dialog_router.register(dialog.view, _AgentDialogOwner(self, dialog))
        if timing is not None:
            dialog.peer_allows_update = any(
                m.strip().upper() == "UPDATE"
                for value in invite.headers.get_list("Allow") for m in value.split(","))
            dialog.refresh = DialogRefresh(
                self.stack, self._clock, self._session_timers, Refreshed(self.stack, dialog),
                timing,
                timing.refresher == UAS,
                lambda reason: self.bye_caller(dialog, "switch", reason), self._user_agent)
        call.record.answer_at = self._clock.seconds()
        call.record.final_code = 200
        call.agent_answered()
        if not call.original_offer:
            dialog.awaiting_answer = dialog.begin_on_ack = True  # delayed offer
        self.stack.respond(call.server_key, ok)
        dialog.ok, dialog.ok_destination = ok, response_destination(invite, call.source)
        dialog.ok_interval = self._timers.t1
        dialog.ok_deadline = self._clock.seconds() + self._timers.H
        dialog.ok_timer = self._clock.callLater(dialog.ok_interval, self._resend_ok, dialog)
        dialog.media_id = session.media_id
        dialog.on_silence = lambda idle: self.bye_caller(dialog, "switch", "media-timeout")
        self._media_owners.watch(dialog.media_id, dialog.on_silence)
        if not dialog.begin_on_ack:
            self._begin(dialog)

    def _begin(self, dialog: AgentDialog) -> None:
        dialog.session.begin(lambda reason: self._agent_ended(dialog, reason),
                             lambda target, warm: self._transfer_requested(dialog, target, warm))

    def _first_answer(self, dialog: AgentDialog, request: Request) -> None:
        """The ACK of a delayed-offer call: its SDP answers the offer of our 200."""
        dialog.begin_on_ack = False
        if not carries_sdp(request):
            log.info("ACK without the SDP answer of {call_id}", call_id=dialog.call_id)
            self.bye_caller(dialog, "switch", "no-answer-sdp")
            return
        dialog.offer_sdp = request.body  # (a transfer offers the human the caller's SDP)

        def taken(_):
            if not dialog.ended:
                self._begin(dialog)

        def refused(failure):
            log.info("unusable SDP answer for {call_id}: {why}", call_id=dialog.call_id,
                     why=failure.getErrorMessage())
            self.bye_caller(dialog, "switch", "bad-sdp")

        dialog.session.take_answer(request.body).addCallbacks(taken, refused)

    def _resend_ok(self, dialog: AgentDialog) -> None:
        dialog.ok_timer = None
        if dialog.ended:
            return
        if self._clock.seconds() >= dialog.ok_deadline:
            log.info("no ACK for the 200 of {call_id}: hanging up", call_id=dialog.call_id)
            self.bye_caller(dialog, "agent", "no-ack")
            return
        self.stack.send_stateless(dialog.ok, dialog.ok_destination)
        dialog.ok_interval = min(2 * dialog.ok_interval, self._timers.t2)
        dialog.ok_timer = self._clock.callLater(dialog.ok_interval, self._resend_ok, dialog)

    def ack(self, dialog: AgentDialog, request: Request) -> None:
        if dialog.ok_timer is not None and dialog.ok_timer.active():
            dialog.ok_timer.cancel()
        dialog.ok_timer = None
        if dialog.begin_on_ack:
            dialog.awaiting_answer = False
            self._first_answer(dialog, request)
        elif dialog.awaiting_answer and carries_sdp(request):
            # The answer to the offer of our 200 to a re-INVITE without SDP.
            dialog.awaiting_answer = False
            try:
                sdp = parse_sdp(request.body)
            except (SdpError, ValueError):
                return
            self._caller_sdp(dialog, request.body, sdp)

    # -- in-dialog requests (answered through services.dialog_requests) ------------------
    def bye_received(self, dialog: AgentDialog) -> None:
        self._end(dialog, "caller", "bye")

    def reinvite(self, key, request: Request, dialog: AgentDialog) -> None:
        """Hold, resume, a moved address or a session refresh: our answer keeps its
        streams and codec, each direction answering the offer's (RFC 3264 §6.1). A
        re-INVITE without SDP gets our offer in the 200; the answer comes in the ACK."""
        previous = dialog.answer_sdp or dialog.session.answer_sdp
        try:
            ours = parse_sdp(previous)
            if carries_sdp(request):
                offer = parse_sdp(request.body)
                check_answer(offer, ours)
                body = bytes(answer_reoffer(ours, offer))
            else:
                offer, body = None, bytes(offer_from_answer(ours))
        except (SdpError, ValueError) as exc:  # (ValueError: not UTF-8)
            response = make_response(request, 488)
            response.headers.add("Warning", f'399 softswitch "{_quoted(str(exc))}"')
            self.stack.respond(key, response)
            return
        if not self.refresh_answer(key, request, dialog, body):
            return
        dialog.answer_sdp = body
        dialog.awaiting_answer = offer is None
        if offer is not None:
            self._caller_sdp(dialog, request.body, offer)

    def refresh_answer(self, key, request: Request, dialog: AgentDialog,
                        body: bytes = b"") -> bool:
        """Send the 200 (with `body`) to a re-INVITE or UPDATE (a session refresh, RFC
        4028), or the 422/400 its Session-Expires calls for instead; whether it went."""
        ok = refresh_ok(request, self.stack.local_uri(dialog.caller), body)
        if dialog.refresh is not None:
            return dialog.refresh.respond(key, request, ok)
        self.stack.respond(key, ok)
        return True

    def _caller_sdp(self, dialog: AgentDialog, body: bytes, sdp) -> None:
        """The caller's new offer (or answer to ours): the relay follows its address,
        and the agent hears of a hold or resume."""
        held = offer_holds(sdp)
        d = dialog.session.reoffer(body)
        d.addErrback(lambda f: log.info("media of {call_id} did not take the caller's new "
                                        "SDP: {why}", call_id=dialog.call_id,
                                        why=f.getErrorMessage()))
        if held != dialog.held:
            dialog.held = held
            dialog.session.hold(held)

    def info(self, key, request: Request, dialog: AgentDialog) -> None:
        try:
            digit = parse_info_dtmf(request.headers.get("Content-Type") or "", request.body)
        except ValueError:
            # An INFO we do not understand is still accepted (RFC 6086 lets packages
            # be ignored); only DTMF reaches the agent.
            self.stack.respond(key, make_response(request, 200))
            return
        dialog.session.dtmf(digit.digit)
        self.stack.respond(key, make_response(request, 200))

    # -- endings ---------------------------------------------------------------------
    def _agent_ended(self, dialog: AgentDialog, reason: str) -> None:
        """The agent hung up (or was lost for good): BYE the caller, unless a transfer
        is ringing, which then goes on without the agent."""
        if dialog.transfer is not None and dialog.transfer.agent_left(reason):
            return
        self.bye_caller(dialog, "agent", reason)

    def bye_caller(self, dialog: AgentDialog, side: str, reason: str) -> None:
        """End the call from our side: BYE to the caller; `side` and `reason` go
        into the call record."""
        if dialog.ended:
            return
        bye = dialog.view.create_request("BYE", self.stack.via_for(dialog.caller))
        if side == "agent":  # the headers the agent set on its hang-up (agent.sip_headers)
            for name, value in getattr(dialog.session, "bye_headers", ()):
                bye.headers.add(name, value)
        self.stack.send_request(bye, dialog.caller, IGNORE_RESPONSES)
        self._end(dialog, side, reason)

    def _transfer_requested(self, dialog: AgentDialog, target: str, warm: bool) -> None:
        if dialog.ended:
            return
        self.transfers.request(InboundCall(self, dialog), target, warm)

    def hang_up(self, call_id: str, reason: str, side: str = "agent") -> bool:
        dialog = self.dialogs.get(call_id)
        if dialog is None:
            return False
        self.bye_caller(dialog, side, reason)
        return True

    def finish(self, call_id: str, reason: str) -> bool:
        """The agent asked (REST) to end its call: BYE once its queued audio played."""
        dialog = self.dialogs.get(call_id)
        if dialog is None or dialog.session.agent_left:
            return False  # (after a transfer the call is the caller's and the human's)
        if not dialog.session.finish(reason):
            self.bye_caller(dialog, "agent", reason)
        return True

    def active_calls(self) -> list[dict]:
        """The answered agent calls, as the admin API lists calls."""
        now = self._clock.seconds()
        return [{"call_id": d.call_id, "state": "answered", "direction": d.record.direction,
                 "caller": d.record.caller, "callee": d.record.callee,
                 "trunk": d.record.trunk, "agent": d.record.agent,
                 "duration": now - d.record.start_at} for d in list(self.dialogs.values())]

    def _end(self, dialog: AgentDialog, side: str, reason: str) -> None:
        if dialog.ended:
            return
        dialog.ended = True
        self._dialog_router.unregister(dialog.view)
        if dialog.media_id is not None:
            self._media_owners.forget(dialog.media_id, dialog.on_silence)
        if dialog.ok_timer is not None and dialog.ok_timer.active():
            dialog.ok_timer.cancel()
        if dialog.refresh is not None:
            dialog.refresh.stop()
        self.dialogs.pop(dialog.call_id, None)
        record = dialog.record
        record.end_at = self._clock.seconds()
        record.disconnect_side, record.disconnect_reason = side, reason
        for release in dialog.release:
            release()
        if dialog.transfer is not None:
            dialog.transfer.customer_ended(reason)
        d = dialog.session.stop(reason)

        def write(stats):
            record.agent_stats = stats if isinstance(stats, dict) else None
            if self._on_call_end is not None:
                self._on_call_end(record)
        d.addBoth(write)


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


@dataclass(slots=True)
class _AgentDialogOwner:
    """The in-dialog router's owner of an answered agent call's dialog."""

    calls: AgentCalls
    dialog: AgentDialog

    def in_dialog(self, key, request: Request, source: Peer, view: SipDialog) -> None:
        answer_request(self.calls.stack, key, request, view, self)

    # (dialog_requests.DialogEnd)
    def bye_received(self) -> None:
        self.calls.bye_received(self.dialog)

    def offer_received(self, key, request: Request) -> None:
        self.calls.reinvite(key, request, self.dialog)

    def refresh_received(self, key, request: Request) -> None:
        self.calls.refresh_answer(key, request, self.dialog)

    def info_received(self, key, request: Request) -> None:
        self.calls.info(key, request, self.dialog)

    def ack(self, request: Request, source: Peer, view: SipDialog) -> None:
        self.calls.ack(self.dialog, request)
