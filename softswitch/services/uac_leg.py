"""One call placed by the switch as a user agent client (RFC 3261 §13.2, §15): the
leg of an outbound AI call, or the human a call is transferred to.

A `UacLeg` sends an INVITE with our SDP offer to a destination, answers a digest
challenge (401/407) once with the trunk's credentials, ACKs the 2xx itself (and
every retransmission of it: with RFC 6026 the transaction layer hands re-sent 2xx
to the transaction user), and then holds the dialog: it sends BYE, and answers the
far end's BYE, re-INVITE (with our current SDP), INFO, OPTIONS and UPDATE.

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

from dataclasses import dataclass
from typing import Protocol, Sequence

from twisted.logger import Logger

from ..sip import digest
from ..sip.dialog import Dialog as SipDialog
from ..sip.dialog import DialogTableFull
from ..sip.errors import SipError
from ..sip.fields import parse_name_addr
from ..sip.ids import new_call_id, new_tag
from ..sip.message import Request, Response, make_cancel, make_request, make_response
from ..sip.transport import Peer
from ..sip.uri import parse_uri
from .in_dialog import InDialogRouter
from .ports import IGNORE_RESPONSES
from .proxy_media import carries_sdp
from .proxy_routes import peer_for_uri

log = Logger()

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE"
BUSY_CODES = frozenset({486, 600})
NO_ANSWER_CODES = frozenset({408, 480, 487})

# Dialog states of the leg (RFC 3261 §12: early and confirmed dialogs).
CALLING = "CALLING"  # INVITE sent, nothing but 100 yet
EARLY = "EARLY"  # a provisional came
CONFIRMED = "CONFIRMED"  # 2xx received and ACKed
TERMINATED = "TERMINATED"


# -- events --------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Ringing:
    status: int  # 180, 183...
    sdp: bytes | None = None  # early media SDP when the provisional carried one


@dataclass(frozen=True, slots=True)
class Answered:
    sdp: bytes  # the far end's SDP answer (b"" when the 2xx had none)


@dataclass(frozen=True, slots=True)
class Failed:
    code: int
    outcome: str  # "busy" | "no-answer" | "failed"

    def __post_init__(self):
        if self.outcome not in ("busy", "no-answer", "failed"):
            raise ValueError(f"unknown outcome {self.outcome!r}")


@dataclass(frozen=True, slots=True)
class Ended:
    side: str  # "remote": the far end ended the dialog
    reason: str  # "bye"


LegEvent = Ringing | Answered | Failed | Ended


def outcome_of(code: int) -> str:
    """How a final failure code reads in a call record."""
    if code in BUSY_CODES:
        return "busy"
    if code in NO_ANSWER_CODES:
        return "no-answer"
    return "failed"


class LegOwner(Protocol):
    def leg_event(self, leg: "UacLeg", event: LegEvent) -> None: ...


# -- the table of legs, for in-dialog routing -----------------------------------------

class UacLegs:
    """The legs with a dialog (or an INVITE) in progress, by Call-ID; a confirmed
    leg's dialog is registered with the in-dialog router, which hands the far end's
    requests to the leg."""

    def __init__(self, dialog_router: InDialogRouter):
        self._by_call_id: dict[str, UacLeg] = {}
        self._router = dialog_router

    def __len__(self) -> int:
        return len(self._by_call_id)

    def __iter__(self):
        return iter(list(self._by_call_id.values()))

    def add(self, leg: "UacLeg") -> None:
        self._by_call_id[leg.call_id] = leg

    def remove(self, leg: "UacLeg") -> None:
        if self._by_call_id.get(leg.call_id) is leg:
            del self._by_call_id[leg.call_id]
        if leg.dialog is not None:
            self._router.unregister(leg.dialog)

    def confirmed(self, leg: "UacLeg") -> None:
        """The leg's dialog is up: the far end's requests now reach it."""
        try:
            self._router.register(leg.dialog, _LegOwner(leg))
        except DialogTableFull:
            log.warn("no room for the dialog of {call_id}: its requests get 481",
                     call_id=leg.call_id)


@dataclass(slots=True)
class _LegOwner:
    """The in-dialog router's owner of a UAC leg's dialog."""

    leg: "UacLeg"

    def in_dialog(self, key, request: Request, source: Peer, dialog: SipDialog) -> None:
        self.leg.in_dialog(key, request)

    def ack(self, request: Request, source: Peer, dialog: SipDialog) -> None:
        self.leg.ack(request)


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
                 from_display: str | None = None):
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
        self._strays: dict[str, _StrayDialog] = {}  # unwanted 2xx by To tag

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
        self._emit(Answered(response.body if carries_sdp(response) else b""))

    def _failure(self, response: Response) -> None:
        status = response.status
        if status in (401, 407) and not self._done and self._retry_with_credentials(response):
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
    def in_dialog(self, key, request: Request) -> None:
        method = request.method
        if method == "BYE":
            self.stack.respond(key, make_response(request, 200))
            already = self._done
            self._done = True
            self._terminate()
            if not already:
                self._emit(Ended("remote", "bye"))
        elif method == "INVITE":
            if carries_sdp(request):
                self.remote_sdp = request.body
            ok = make_response(request, 200, body=self.local_sdp)
            ok.headers.add("Contact", f"<{self.stack.local_uri(self.destination)}>")
            ok.headers.add("Content-Type", "application/sdp")
            self.stack.respond(key, ok)
        elif method in ("INFO", "OPTIONS", "UPDATE"):
            self.stack.respond(key, make_response(request, 200))
        else:
            response = make_response(request, 405)
            response.headers.add("Allow", ALLOW)
            self.stack.respond(key, response)

    def ack(self, request: Request) -> None:
        """The ACK of our 200 to a re-INVITE: nothing to do."""

    # -- building and sending ---------------------------------------------------------------
    def _build_invite(self) -> Request:
        invite = make_request("INVITE", self.request_uri,
                              via=self.stack.via_for(self.destination), from_=self.local_from,
                              to=self.remote_to, call_id=self.call_id, cseq=self._cseq,
                              routes=self._preloaded, body=self.local_sdp)
        invite.headers.add("Contact", f"<{self.stack.local_uri(self.destination)}>")
        invite.headers.add("Allow", ALLOW)
        invite.headers.add("User-Agent", self._user_agent)
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
        header = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
        challenge = digest.select_challenge(response.headers.values(header))
        if challenge is None:
            return False
        username, password = self._credentials
        try:
            value = digest.authorization_for(challenge, username, password, "INVITE",
                                             self.request_uri, cnonce=new_tag())
        except SipError as exc:
            log.info("cannot answer the challenge for {uri}: {error}", uri=self.request_uri,
                     error=exc)
            return False
        self._auth_tried = True
        self._cseq += 1
        invite = Request("INVITE", self.request_uri, self._invite.headers.copy(),
                         self._invite.body)
        invite.headers.set("CSeq", f"{self._cseq} INVITE")
        invite.headers.replace_first("Via", self.stack.via_for(self.destination))
        invite.headers.set("Authorization" if response.status == 401
                           else "Proxy-Authorization", value)
        invite.invalidate()
        self._send_invite(invite)
        return True

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
        """ACK and BYE a 2xx we do not want (a second fork, or after CANCEL); its
        retransmissions are only ACKed again."""
        tag = response.to_tag or ""
        stray = self._strays.get(tag)
        if stray is not None:
            stray.send("ACK")
            return
        stray = self._strays[tag] = _StrayDialog(self, response)
        stray.send("ACK")
        stray.send("BYE")
        if self.state != CONFIRMED:
            self._terminate()

    def _terminate(self) -> None:
        self.state = TERMINATED
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


class _StrayDialog:
    """A dialog we only end: the ACK and BYE of an unwanted 2xx."""

    def __init__(self, leg: UacLeg, response: Response):
        self.leg = leg
        self.to = response.headers.get("To")
        self.contact = _contact_uri(response) or leg.request_uri
        record_routes = response.headers.get_list("Record-Route")
        self.routes = list(reversed(record_routes))

    def send(self, method: str) -> None:
        leg = self.leg
        peer = leg.destination
        if self.routes:
            try:
                peer = peer_for_uri(parse_name_addr(self.routes[0]).uri) or peer
            except SipError:
                pass
        number = leg._invite.cseq.number + (1 if method == "BYE" else 0)
        request = make_request(method, self.contact, via=leg.stack.via_for(peer),
                               from_=leg.local_from, to=self.to, call_id=leg.call_id,
                               cseq=number, routes=self.routes)
        if method == "ACK":
            leg.stack.send_stateless(request, peer)
        else:
            leg.stack.send_request(request, peer, IGNORE_RESPONSES)


def _contact_uri(message) -> str | None:
    values = message.headers.get_list("Contact")
    if not values:
        return None
    try:
        return str(parse_name_addr(values[0]).uri)
    except SipError:
        return None
