"""One call placed by the switch as a user agent client (RFC 3261 §13.2, §15): the
leg of an outbound AI call, or the human a call is transferred to.

A `UacLeg` sends an INVITE with our SDP offer to a destination, answers a digest
challenge (401/407) once with the trunk's credentials, ACKs the 2xx itself (and
every retransmission of it: with RFC 6026 the transaction layer hands re-sent 2xx
to the transaction user), and then holds the dialog: it sends BYE, and answers the
far end's BYE, re-INVITE (with our current SDP), INFO, OPTIONS and UPDATE.

Session timers (RFC 4028, with `session_timers`): the INVITE says Supported: timer
with our Session-Expires and Min-SE, a 422 is answered once with the interval its
Min-SE names, and the 2xx's Session-Expires starts the dialog's timer
(services.session_refresh): we refresh when the 2xx names us, the far end's
refreshes are answered, and a session that expires is ended with BYE (`Ended("remote",
"session-expired")`).

Its owner hears about it through one typed event stream, `owner.leg_event(leg,
event)`:

    Ringing(status, sdp)   a provisional other than 100 (180, 183 with early SDP...)
    Answered(sdp)          the 2xx: the far end's SDP answer; the dialog is confirmed
    Failed(code, outcome)  a final non-2xx, no answer before the ring timeout
                           (408, "no-answer"; "failed" when not even a 100 came), no
                           response at all (408, Timer B) or a transport failure (503);
                           outcome is "busy" | "no-answer" | "failed"
    Ended(side, reason)    the confirmed dialog ended by the far end ("remote", "bye")

What the owner asks itself (`cancel()`, `bye()`) is not reported back: after either
the leg sends no more events. A 2xx that crosses our CANCEL (or the ring timeout) is
ACKed and hung up at once with BYE, so no call is left up (RFC 3261 §15).

CANCEL is only sent once a provisional response came (RFC 3261 §9.1); before that
the wish is kept and acted on when one comes (or the INVITE transaction times out).

In-dialog requests from the far end reach the leg through a `UacLegs` table: the
dispatcher hands them to the proxy, which asks the table (via `AgentCalls.owns`)
whether a leg holds that dialog.

Pure policy on an injected clock and the SipStack port: no sockets, no reactor.
"""

from typing import Sequence

from twisted.logger import Logger

from ..sdp import SdpError, parse_sdp
from ..sdp.reoffer import answer_in_dialog, offer_holds
from ..sip.dialog import Dialog as SipDialog
from ..sip.errors import SipError
from ..sip.fields import parse_name_addr
from ..sip.ids import new_call_id, new_tag
from ..sip.message import Request, Response, make_cancel, make_request, make_response
from ..sip.session_timer import (
    UAC,
    SessionTimerConfig,
    negotiate_as_uac,
    retry_interval,
    uac_request_headers,
)
from ..sip.transport import Peer
from ..sip.uri import parse_uri
from .credential_retry import CannotAnswer, answer_challenge, is_challenge
from .dialog_requests import ALLOW, refresh_ok
from .ports import IGNORE_RESPONSES
from .proxy_media import carries_sdp
from .proxy_routes import peer_for_uri
from .session_refresh import DialogRefresh
from .stray_answers import StrayAnswers
from .uac_leg_events import (  # noqa: F401 (the leg's events are imported from here too)
    Answered,
    Ended,
    Failed,
    LegEvent,
    LegOwner,
    Reoffered,
    Ringing,
    outcome_of,
)
from .uac_legs import UacLegs  # noqa: F401 (imported from here by the legs' owners)

log = Logger()


# Dialog states of the leg (RFC 3261 §12: early and confirmed dialogs).
CALLING = "CALLING"  # INVITE sent, nothing but 100 yet
EARLY = "EARLY"  # a provisional came
CONFIRMED = "CONFIRMED"  # 2xx received and ACKed
TERMINATED = "TERMINATED"


# -- the leg ---------------------------------------------------------------------------

class UacLeg:
    """One outgoing INVITE and the dialog it makes.

    `destination` is where the INVITE goes (a gateway, a registered phone's address);
    `request_uri` its Request-URI; `from_uri` and `to_uri` the identities (our tag is
    added to From). `routes` is a pre-loaded Route set (a binding's Path).
    `credentials` (username, password) answer one 401/407. With `follow_contact`
    False, in-dialog requests without a Record-Route go to `destination` rather than
    the far end's Contact (a phone behind NAT reached at its registration's source)."""

    def __init__(self, stack, clock, owner: LegOwner, *, destination: Peer, request_uri: str,
                 from_uri: str, to_uri: str, offer_sdp: bytes, call_id: str | None = None,
                 routes: Sequence[str] = (), credentials: tuple[str, str] | None = None,
                 ring_timeout: float | None = 60.0, follow_contact: bool = True,
                 registry: UacLegs | None = None, user_agent: str = "softswitch",
                 from_display: str | None = None,
                 session_timers: SessionTimerConfig | None = None,
                 extra_headers: Sequence[tuple[str, str]] = ()):
        self.stack = stack
        self._clock = clock
        self._owner = owner
        self.destination = destination
        self.request_uri = request_uri
        self.local_sdp = offer_sdp  # our offer, and what we answer re-INVITEs with
        self.remote_sdp: bytes | None = None
        self.local_tag = new_tag()
        host = parse_uri(stack.local_uri(destination)).host
        self.call_id = call_id or new_call_id(host)
        display = f'"{from_display}" ' if from_display else ""
        self.local_from = f"{display}<{from_uri}>;tag={self.local_tag}"
        self.remote_to = f"<{to_uri}>"  # gets the far end's tag on the 2xx
        self.remote_tag: str | None = None
        self.remote_contact: str | None = None
        self.dialog: SipDialog | None = None  # once confirmed (sip.dialog)
        self.route_set: list[str] = list(routes)
        self.state = CALLING
        self.code: int | None = None  # the final status, once there is one
        self._preloaded = list(routes)
        self._credentials = credentials
        self._ring_timeout = ring_timeout
        self._follow_contact = follow_contact
        self._registry = registry
        self._user_agent = user_agent
        # PAI (services.caller_id) and headers an agent set (agent.sip_headers).
        self._extra_headers = tuple(extra_headers)
        self._cseq = 1
        self._invite: Request | None = None
        self._invite_key = None
        self._auth_tried = False
        self._provisional = False  # a provisional came: CANCEL may be sent
        self._cancel_wanted = False
        self._cancel_sent = False
        self._done = False  # the owner has its outcome (or gave up): no more events
        self._ring_timer = None
        self._ack: Request | None = None
        self._ack_peer: Peer | None = None
        self._strays = StrayAnswers(stack)  # unwanted 2xx
        self._session_timers = session_timers  # RFC 4028 (None: off)
        self._interval_retried = False
        self._awaiting_answer = False  # our 200 to a re-INVITE without SDP made an offer
        self._refresh: DialogRefresh | None = None
        self.peer_allows_update = False

    # -- the owner's requests ---------------------------------------------------------
    def start(self) -> "UacLeg":
        if self._invite is not None:
            raise RuntimeError("the leg was started already")
        if self._registry is not None:
            self._registry.add(self)
        self._send_invite(self._build_invite())
        if self._ring_timeout:
            self._ring_timer = self._clock.callLater(self._ring_timeout, self._ring_timed_out)
        return self

    def cancel(self) -> None:
        """Give up the call: CANCEL while it is ringing, BYE once it is answered."""
        if self.state == CONFIRMED:
            self.bye()
            return
        if self._done:
            return
        self._done = True
        self._stop_ring_timer()
        self._cancel_wanted = True
        if self._provisional:
            self._send_cancel()

    def bye(self) -> None:
        """Hang up: BYE in a confirmed dialog, CANCEL before it."""
        if self.state != CONFIRMED:
            self.cancel()
            return
        self._done = True
        self._stop_ring_timer()
        self._send_in_dialog("BYE")
        self._terminate()

    @property
    def answered(self) -> bool:
        return self.state == CONFIRMED

    @property
    def finished(self) -> bool:
        """No more events will come (the owner knows the outcome or gave up)."""
        return self._done

    # -- ClientHandler of the INVITE ----------------------------------------------------
    def response_received(self, key, response: Response) -> None:
        if key != self._invite_key:
            return  # the challenged INVITE's, after we sent it again with credentials
        status = response.status
        if status < 200:
            self._provisional_received(response)
        elif status < 300:
            self._success(response)
        else:
            self._failure(response)

    def timed_out(self, key) -> None:
        if key == self._invite_key and self.state != CONFIRMED:
            self._fail(408, "failed")  # Timer B: no response at all

    def transport_failed(self, key) -> None:
        if key == self._invite_key and self.state != CONFIRMED:
            self._fail(503, "failed")

    def _provisional_received(self, response: Response) -> None:
        self._provisional = True
        if self._cancel_wanted and not self._cancel_sent:
            self._send_cancel()
        if response.status == 100 or self._done:
            return
        if self.state == CALLING:
            self.state = EARLY
        self._emit(Ringing(response.status, response.body if carries_sdp(response) else None))

    def _success(self, response: Response) -> None:
        tag = response.to_tag or ""
        if self.state in (CONFIRMED, TERMINATED) and tag == self.remote_tag:
            if self._ack is not None:  # our ACK was lost: the far end sends the 2xx again
                self.stack.send_stateless(self._ack, self._ack_peer)
            return
        if self.state == CONFIRMED or self._done:
            # Another fork answered too, or the answer crossed our CANCEL: take it
            # down at once so nobody is left talking to silence.
            self._hang_up_stray(response)
            return
        self._establish(response)
        self.state = CONFIRMED
        try:
            self.dialog = SipDialog.as_uac(self._invite, response)
        except SipError:  # a 2xx without a To tag: no dialog to route to
            self.dialog = None
        if self._registry is not None and self.dialog is not None:
            self._registry.confirmed(self)
        self.code = response.status
        self._stop_ring_timer()
        self._send_ack()
        self._start_session_timer(response)
        self._emit(Answered(response.body if carries_sdp(response) else b""))

    def _start_session_timer(self, response: Response) -> None:
        """RFC 4028 §7.2: the 2xx's Session-Expires (none: no timer) sets who refreshes."""
        if self._session_timers is None:
            return
        try:
            negotiated = negotiate_as_uac(response.headers.get("Session-Expires"))
        except ValueError:
            negotiated = None
        if negotiated is None:
            return
        self.peer_allows_update = "UPDATE" in _allowed(response)
        self._refresh = DialogRefresh(self.stack, self._clock, self._session_timers, self,
                                      negotiated,
                                      negotiated.refresher == UAC, self._session_expired,
                                      self._user_agent)

    def _session_expired(self, reason: str) -> None:
        """No refresh in time (or one refused 408/481): BYE, and the owner hears Ended."""
        if self.state != CONFIRMED:
            return
        already = self._done
        self._done = True
        self._send_in_dialog("BYE")
        self._terminate()
        if not already:
            self._emit(Ended("remote", reason))

    # RefreshedDialog (services.session_refresh): our refreshes within the dialog.
    def refresh_request(self, method: str) -> tuple[Request, Peer]:
        self._cseq += 1
        request = self._dialog_request(method, self._cseq)
        request.headers.add("Contact", f"<{self.stack.local_uri(self.destination)}>")
        if method == "INVITE" and self.local_sdp:
            request.body = self.local_sdp
            request.headers.add("Content-Type", "application/sdp")
        return request, self._in_dialog_peer()

    def ack_for(self, cseq: int) -> tuple[Request, Peer]:
        return self._dialog_request("ACK", cseq), self._in_dialog_peer()

    def _failure(self, response: Response) -> None:
        status = response.status
        if is_challenge(status) and not self._done and self._retry_with_credentials(response):
            return
        if status == 422 and not self._done and self._retry_interval(response):
            return
        self._fail(status, outcome_of(status))

    def _fail(self, code: int, outcome: str) -> None:
        if self.code is None:
            self.code = code
        if self.state != CONFIRMED:
            self._terminate()
        if self._done:
            return
        self._done = True
        self._stop_ring_timer()
        self._emit(Failed(code, outcome))

    def _ring_timed_out(self) -> None:
        self._ring_timer = None
        if self._done or self.state == CONFIRMED:
            return
        log.info("no answer from {uri} in {seconds:.0f}s: cancelling", uri=self.request_uri,
                 seconds=self._ring_timeout)
        self._cancel_wanted = True
        if self._provisional:
            self._send_cancel()
        self.code = 408
        self._done = True
        # Not even a 100 Trying: the destination never took the call (as Timer B).
        self._emit(Failed(408, "no-answer" if self._provisional else "failed"))

    # -- in-dialog requests from the far end ---------------------------------------------
    # (services.dialog_requests.DialogEnd: the router's owner answers through it)
    def bye_received(self) -> None:
        already = self._done
        self._done = True
        self._terminate()
        if not already:
            self._emit(Ended("remote", "bye"))

    def offer_received(self, key, request: Request) -> None:
        """A re-INVITE or an UPDATE with SDP: each direction answering the offer's
        (hold), or our offer when it has none."""
        if not self.local_sdp:
            self.refresh_received(key, request)
            return
        offer = request.body if carries_sdp(request) else None
        try:
            body, held = answer_in_dialog(self.local_sdp, offer)
        except (SdpError, ValueError):
            self.stack.respond(key, make_response(request, 488))
            return
        if not self._respond_refresh(key, request, body):
            return
        self.local_sdp = body
        self._awaiting_answer = held is None
        if held is not None:
            self.remote_sdp = request.body
            self._emit(Reoffered(request.body, held))

    def refresh_received(self, key, request: Request) -> None:
        self._respond_refresh(key, request)

    def info_received(self, key, request: Request) -> None:
        self.stack.respond(key, make_response(request, 200))

    def _respond_refresh(self, key, request: Request, body: bytes = b"") -> bool:
        """The 200 to a re-INVITE or UPDATE, or the 422/400 its Session-Expires calls
        for (RFC 4028); whether the 200 went."""
        ok = refresh_ok(request, self.stack.local_uri(self.destination), body)
        if self._refresh is not None:
            return self._refresh.respond(key, request, ok)
        self.stack.respond(key, ok)
        return True

    def ack(self, request: Request) -> None:
        """The ACK of our 200 to a re-INVITE: the answer, when the 200 had our offer."""
        if self._awaiting_answer and carries_sdp(request):
            self._awaiting_answer = False
            try:
                held = offer_holds(parse_sdp(request.body))
            except (SdpError, ValueError):
                return
            self.remote_sdp = request.body
            self._emit(Reoffered(request.body, held))

    # -- building and sending ---------------------------------------------------------------
    def _build_invite(self) -> Request:
        invite = make_request("INVITE", self.request_uri,
                              via=self.stack.via_for(self.destination), from_=self.local_from,
                              to=self.remote_to, call_id=self.call_id, cseq=self._cseq,
                              routes=self._preloaded, body=self.local_sdp)
        invite.headers.add("Contact", f"<{self.stack.local_uri(self.destination)}>")
        invite.headers.add("Allow", ALLOW)
        invite.headers.add("User-Agent", self._user_agent)
        for name, value in self._extra_headers:
            invite.headers.add(name, value)
        if self._session_timers is not None:
            for name, value in uac_request_headers(self._session_timers):
                invite.headers.add(name, value)
        if self.local_sdp:
            invite.headers.add("Content-Type", "application/sdp")
        return invite

    def _send_invite(self, invite: Request) -> None:
        self._invite = invite
        self._provisional = False
        self._invite_key = self.stack.send_request(invite, self.destination, self)

    def _retry_with_credentials(self, response: Response) -> bool:
        if self._credentials is None or self._auth_tried:
            return False
        try:
            name, value = answer_challenge(response, self._credentials, "INVITE",
                                           self.request_uri)
        except CannotAnswer as exc:
            log.info("{uri}: {error}", uri=self.request_uri, error=exc)
            return False
        self._auth_tried = True
        self._send_again({name: value})
        return True

    def _retry_interval(self, response: Response) -> bool:
        """A 422 (RFC 4028 §7.3): ask once more, for the interval its Min-SE names."""
        if self._session_timers is None or self._interval_retried:
            return False
        interval = retry_interval(response.headers.get("Min-SE"), self._session_timers)
        if interval is None:
            return False
        self._interval_retried = True
        self._send_again({"Session-Expires": str(interval), "Min-SE": str(interval)})
        return True

    def _send_again(self, headers: dict[str, str]) -> None:
        """The INVITE once more, with the next CSeq, a new branch and `headers` set."""
        self._cseq += 1
        invite = Request("INVITE", self.request_uri, self._invite.headers.copy(),
                         self._invite.body)
        invite.headers.set("CSeq", f"{self._cseq} INVITE")
        invite.headers.replace_first("Via", self.stack.via_for(self.destination))
        for name, value in headers.items():
            invite.headers.set(name, value)
        invite.invalidate()
        self._send_invite(invite)

    def _send_cancel(self) -> None:
        if self._cancel_sent or self._invite is None:
            return
        self._cancel_sent = True
        self.stack.send_request(make_cancel(self._invite), self.destination, IGNORE_RESPONSES)

    def _establish(self, response: Response) -> None:
        self.remote_tag = response.to_tag or ""
        self.remote_to = response.headers.get("To")
        self.remote_contact = _contact_uri(response) or self.request_uri
        record_routes = response.headers.get_list("Record-Route")
        if record_routes:
            self.route_set = list(reversed(record_routes))  # UAC: bottom first (§12.1.2)
        self.remote_sdp = response.body if carries_sdp(response) else None

    def _send_ack(self) -> None:
        ack = self._dialog_request("ACK", self._cseq)
        for name in ("Authorization", "Proxy-Authorization"):
            for value in self._invite.headers.values(name):
                ack.headers.add(name, value)
        self._ack, self._ack_peer = ack, self._in_dialog_peer()
        self.stack.send_stateless(ack, self._ack_peer)

    def _send_in_dialog(self, method: str) -> None:
        self._cseq += 1
        request = self._dialog_request(method, self._cseq)
        self.stack.send_request(request, self._in_dialog_peer(), IGNORE_RESPONSES)

    def _dialog_request(self, method: str, cseq: int) -> Request:
        peer = self._in_dialog_peer()
        return make_request(method, self.remote_contact or self.request_uri,
                            via=self.stack.via_for(peer), from_=self.local_from,
                            to=self.remote_to, call_id=self.call_id, cseq=cseq,
                            routes=self.route_set)

    def _in_dialog_peer(self) -> Peer:
        """Where requests within the dialog go: the first Route, else the far end's
        Contact (or, without `follow_contact`, where the INVITE went)."""
        if self.route_set:
            try:
                peer = peer_for_uri(parse_name_addr(self.route_set[0]).uri,
                                    self.destination.transport)
            except SipError:
                peer = None
            return peer or self.destination
        if self._follow_contact and self.remote_contact:
            try:
                peer = peer_for_uri(parse_uri(self.remote_contact), self.destination.transport)
            except SipError:
                peer = None
            return peer or self.destination
        return self.destination

    def _hang_up_stray(self, response: Response) -> None:
        """ACK and BYE a 2xx we do not want (a second fork, or after CANCEL)."""
        try:
            view = SipDialog.as_uac(self._invite, response)
        except SipError:
            return  # a 2xx without a To tag: no dialog to end
        self._strays.hang_up(response, view, self.destination, self._invite.cseq.number)
        if self.state != CONFIRMED:
            self._terminate()

    def _terminate(self) -> None:
        self.state = TERMINATED
        if self._refresh is not None:
            self._refresh.stop()
        self._stop_ring_timer()
        if self._registry is not None:
            self._registry.remove(self)

    def _stop_ring_timer(self) -> None:
        if self._ring_timer is not None and self._ring_timer.active():
            self._ring_timer.cancel()
        self._ring_timer = None

    def _emit(self, event) -> None:
        self._owner.leg_event(self, event)

    def __repr__(self) -> str:
        return f"<UacLeg {self.request_uri} {self.state}>"


def _allowed(message) -> set[str]:
    return {method.strip().upper() for value in message.headers.get_list("Allow")
            for method in value.split(",")}


def _contact_uri(message) -> str | None:
    values = message.headers.get_list("Contact")
    if not values:
        return None
    try:
        return str(parse_name_addr(values[0]).uri)
    except SipError:
        return None
