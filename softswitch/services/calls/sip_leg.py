"""One SIP dialog the switch is an end of, whichever side it took: the caller's side
of an agent call (the switch answered: calls.uas_leg) or a call the switch placed
(calls.uac_leg: an outbound call, the human of a transfer).

What both sides do the same way is here, once:
- the dialog (sip.dialog.Dialog) and where its requests go (`next_hop`);
- the far end's requests, matched by the in-dialog router and answered through
  services.dialog_requests: BYE ends the leg (`Ended("remote", "bye")`), a re-INVITE
  or UPDATE with SDP is answered from our current SDP with each direction answering
  the offer's (RFC 3264 §6.1: sendonly -> recvonly, inactive -> inactive) and reported
  as `Reoffered`, a re-INVITE without SDP gets our offer and its answer comes in the
  ACK, INFO digits are reported as `Dtmf`, a NOTIFY goes to the REFER we sent
  (`refer`, calls.refer) and a REFER to the owner (`refer_received`; 403 without);
- the hold state the far end's SDP sets (`held`);
- the session timer (RFC 4028, services.session_refresh): the refreshes we send
  (`refresh_request`, `ack_for`), the far end's answered with the timer's headers,
  and a session that expires ended with BYE (`Ended("local", "session-expired")`);
- BYE from our side (`hang_up`).

Its owner (a call: calls.call, or a transfer) hears one typed event stream,
`owner.leg_event(leg, event)` (calls.events)."""

from abc import ABC, abstractmethod

from twisted.logger import Logger

from ...media.dtmf import parse_info_dtmf
from ...sdp import SdpError, parse_sdp
from ...sdp.reoffer import answer_in_dialog, offer_holds
from ...sip.dialog import Dialog as SipDialog
from ...sip.message import Request, make_response
from ...sip.session_timer import SessionTimerConfig
from ...sip.transport import Peer
from ..dialog_requests import answer_request, refresh_ok
from ..ports import IGNORE_RESPONSES
from ..proxy_media import carries_sdp
from ..session_refresh import DialogRefresh
from .events import Dtmf, Ended, LegOwner, Reoffered
from .legs import SipLegs

log = Logger()


class SipLeg(ABC):
    """The state and in-dialog behaviour both sides share. `contact_peer` is the peer
    our Contact and Via are chosen for; `legs` the table that routes the far end's
    requests to the leg once its dialog is up."""

    def __init__(self, stack, clock, owner: LegOwner, *, call_id: str, contact_peer: Peer,
                 local_sdp: bytes, legs: SipLegs | None = None,
                 user_agent: str = "softswitch",
                 session_timers: SessionTimerConfig | None = None):
        self.stack = stack
        self._clock = clock
        self._owner = owner
        self.call_id = call_id
        self.contact_peer = contact_peer
        self.local_sdp = local_sdp  # our SDP as the far end has it now
        self.remote_sdp: bytes | None = None  # the far end's, as it last sent it
        self.dialog: SipDialog | None = None
        self.held = False  # the far end's last SDP holds us
        self.peer_allows_update = False  # the far end listed UPDATE in its Allow
        self._legs = legs
        self._user_agent = user_agent
        self._session_timers = session_timers  # RFC 4028 (None: off)
        self._refresh: DialogRefresh | None = None
        self._awaiting_answer = False  # our 2xx to a re-INVITE without SDP made an offer
        self._done = False  # the owner has its outcome (or gave up): no more events
        self.bye_headers: tuple[tuple[str, str], ...] = ()  # extra headers of our BYE
        self.refer = None  # the REFER we sent on this leg, awaiting NOTIFYs (calls.refer)

    @property
    def finished(self) -> bool:
        """No more events will come (the owner knows the outcome or gave up)."""
        return self._done

    @abstractmethod
    def next_hop(self) -> Peer:
        """Where requests within the dialog go."""

    @abstractmethod
    def hang_up(self) -> None:
        """End the leg from our side: BYE (a UAC leg not answered yet: CANCEL). The
        owner asked, so it hears no event of it."""

    # -- the dialog's life ----------------------------------------------------------------
    def _dialog_up(self) -> bool:
        """The dialog is confirmed: register it, so the far end's requests reach us
        (False: no room for it)."""
        if self._legs is None or self.dialog is None:
            return True
        return self._legs.confirmed(self)

    def _start_refresh(self, negotiated, we_refresh: bool) -> None:
        self._refresh = DialogRefresh(self.stack, self._clock, self._session_timers, self,
                                      negotiated, we_refresh, self._session_expired,
                                      self._user_agent)

    def _terminate(self) -> None:
        """The dialog is over: no timer of ours goes on, its requests get 481."""
        if self._refresh is not None:
            self._refresh.stop()
        if self.dialog is not None:
            self.dialog.terminate()
        if self._legs is not None:
            self._legs.remove(self)

    def _send_bye(self) -> None:
        request, peer = self.request("BYE")
        for name, value in self.bye_headers:  # the agent's, on its hang-up (agent.sip_headers)
            request.headers.add(name, value)
        self.stack.send_request(request, peer, IGNORE_RESPONSES)

    def _end_locally(self, reason: str) -> None:
        """BYE the far end ourselves; the owner hears Ended("local", reason)."""
        if self._done or self.dialog is None:
            return
        self._done = True
        self._send_bye()
        self._terminate()
        self._emit(Ended("local", reason))

    def _session_expired(self, reason: str) -> None:
        self._end_locally(reason)

    # -- requests we send in the dialog -----------------------------------------------------
    def request(self, method: str, *, body: bytes = b"",
                cseq: int | None = None) -> tuple[Request, Peer]:
        peer = self.next_hop()
        return self.dialog.create_request(method, self.stack.via_for(peer), body=body,
                                          cseq=cseq), peer

    # RefreshedDialog (services.session_refresh): our refreshes within the dialog.
    def refresh_request(self, method: str) -> tuple[Request, Peer]:
        body = self.local_sdp if method == "INVITE" else b""
        request, peer = self.request(method, body=body)
        request.headers.add("Contact", f"<{self.stack.local_uri(self.contact_peer)}>")
        if body:
            request.headers.add("Content-Type", "application/sdp")
        return request, peer

    def ack_for(self, cseq: int) -> tuple[Request, Peer]:
        return self.request("ACK", cseq=cseq)

    # -- the far end's requests (in-dialog router owner; dialog_requests.DialogEnd) -----------
    def in_dialog(self, key, request: Request, source: Peer, view: SipDialog) -> None:
        answer_request(self.stack, key, request, view, self)

    def ack(self, request: Request, source: Peer, view: SipDialog) -> None:
        """The ACK of a 2xx of ours: the answer, when the 2xx had our offer."""
        if self._awaiting_answer and carries_sdp(request):
            self._awaiting_answer = False
            try:
                held = offer_holds(parse_sdp(request.body))
            except (SdpError, ValueError):
                return
            self._new_remote_sdp(request.body, held)

    def bye_received(self) -> None:
        already = self._done
        self._done = True
        self._terminate()
        if not already:
            self._emit(Ended("remote", "bye"))

    def offer_received(self, key, request: Request) -> None:
        """A re-INVITE or an UPDATE with SDP (hold, resume, a moved address, a session
        refresh): our answer keeps its streams and codec, each direction answering the
        offer's; without SDP, our offer goes in the 200 and the answer in the ACK."""
        if not self.local_sdp:
            self.refresh_received(key, request)
            return
        offer = request.body if carries_sdp(request) else None
        try:
            body, held = answer_in_dialog(self.local_sdp, offer)
        except (SdpError, ValueError) as exc:  # (ValueError: not UTF-8)
            response = make_response(request, 488)
            response.headers.add("Warning", f'399 softswitch "{_quoted(str(exc))}"')
            self.stack.respond(key, response)
            return
        if not self._respond_refresh(key, request, body):
            return
        self.local_sdp = body
        self._awaiting_answer = held is None
        if held is not None:
            self._new_remote_sdp(request.body, held)

    def refresh_received(self, key, request: Request) -> None:
        self._respond_refresh(key, request)

    def info_received(self, key, request: Request) -> None:
        try:
            digit = parse_info_dtmf(request.headers.get("Content-Type") or "", request.body)
        except ValueError:
            digit = None  # (RFC 6086 lets a package we do not know be accepted, ignored)
        self.stack.respond(key, make_response(request, 200))
        if digit is not None and not self._done:
            self._emit(Dtmf(digit.digit))

    def notify_received(self, key, request: Request) -> None:
        """A NOTIFY of the subscription a REFER of ours made (RFC 3515 §2.4.4); any
        other is for no subscription of ours (481)."""
        event = (request.headers.get("Event") or "").split(";", 1)[0].strip().lower()
        if self.refer is None or event != "refer":
            self.stack.respond(key, make_response(request, 481))
            return
        self.refer.notify_received(key, request)

    def refer_received(self, key, request: Request) -> None:
        """The far end transfers the call (RFC 3515): its owner decides, if it can;
        otherwise refused."""
        handler = getattr(self._owner, "refer_received", None)
        if handler is None:
            self.stack.respond(key, make_response(request, 403))
            return
        handler(self, key, request)

    def _respond_refresh(self, key, request: Request, body: bytes = b"") -> bool:
        """The 200 (with `body`) to a re-INVITE or UPDATE, or the 422/400 its
        Session-Expires calls for (RFC 4028); whether the 200 went."""
        ok = refresh_ok(request, self.stack.local_uri(self.contact_peer), body)
        if self._refresh is not None:
            return self._refresh.respond(key, request, ok)
        self.stack.respond(key, ok)
        return True

    def _new_remote_sdp(self, sdp: bytes, held: bool) -> None:
        self.remote_sdp = sdp
        self.held = held
        if not self._done:
            self._emit(Reoffered(sdp, held))

    def _emit(self, event) -> None:
        self._owner.leg_event(self, event)


def allowed_methods(message) -> set[str]:
    """The methods a message's Allow lists (upper case)."""
    return {method.strip().upper() for value in message.headers.get_list("Allow")
            for method in value.split(",")}


def _quoted(text: str) -> str:
    return text.replace("\\", "").replace('"', "'")[:200]

