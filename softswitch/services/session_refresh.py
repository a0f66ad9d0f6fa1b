"""RFC 4028 session timers on the dialogs the switch holds as a UA (agent calls as UAS;
outbound calls and transfers' humans as UAC: services.calls, whose SIP legs are the
refreshed dialogs).

`uas_timing(request, config)` negotiates a (re-)INVITE's or UPDATE's Session-Expires:
a `Negotiated` for the 2xx, or the 422 / 400 response to send instead.
`DialogRefresh` drives one dialog's pure `SessionTimer` on the injected clock: when
we are the refresher it sends the refresh (UPDATE when the peer allows it, else a
re-INVITE with our current SDP, ACKed on its 2xx) at half the interval; when the
session expires without a refresh (ours failed, or the peer's never came) it calls
`on_expired`. A refresh answered 408 or 481 ends the session at once (§10); any other
failure (491 glare, 5xx) is tried again a few seconds later.
"""

from typing import Callable, Protocol

from twisted.logger import Logger

from ..sip.message import Request, Response, make_response
from ..sip.session_timer import (
    EXPIRED,
    REFRESH,
    UAC,
    UAS,
    Negotiated,
    SessionTimer,
    SessionTimerConfig,
    TooSmall,
    negotiate_as_uac,
    negotiate_as_uas,
    supports_timer,
)
from ..sip.transport import Peer

log = Logger()

ENDS_SESSION = frozenset({408, 481})  # a refresh answered so: the dialog is gone
RETRY_DELAY = 3.0  # another failed refresh is tried again this much later (491: §14.1)


def uas_timing(request: Request, config: SessionTimerConfig,
               ) -> tuple[Negotiated | None, Response | None]:
    """(negotiated, None) for the 2xx, or (None, the 422/400 to answer)."""
    try:
        result = negotiate_as_uas(request.headers.get("Session-Expires"),
                                  request.headers.get("Min-SE"),
                                  supports_timer(request.headers.get_list("Supported")),
                                  config)
    except ValueError as exc:
        response = make_response(request, 400, "Bad Session-Expires")
        why = str(exc).replace("\\", "").replace('"', "'")[:200]
        response.headers.add("Warning", f'399 softswitch "{why}"')
        return None, response
    if isinstance(result, TooSmall):
        response = make_response(request, 422, "Session Interval Too Small")
        response.headers.add("Min-SE", str(result.min_se))
        return None, response
    return result, None


def add_timing(response: Response, negotiated: Negotiated) -> None:
    """The 2xx's Supported, Session-Expires and (UAC refreshes) Require headers."""
    response.headers.add("Supported", "timer")
    for name, value in negotiated.response_headers():
        response.headers.add(name, value)


class RefreshedDialog(Protocol):
    """What a DialogRefresh needs of the dialog it refreshes."""

    call_id: str
    peer_allows_update: bool  # the peer listed UPDATE in its Allow

    def refresh_request(self, method: str) -> tuple[Request, Peer]:
        """A request within the dialog with the next CSeq (INVITE: with our current
        SDP), and where it goes."""

    def ack_for(self, cseq: int) -> tuple[Request, Peer]:
        """The ACK of our re-INVITE's 2xx."""


class DialogRefresh:
    """One dialog's session timer on `clock`; `stack` sends our refreshes.
    `we_refresh`: our side refreshes (as `negotiated` states it, in the roles of the
    request that set it)."""

    def __init__(self, stack, clock, config: SessionTimerConfig, dialog: RefreshedDialog,
                 negotiated: Negotiated, we_refresh: bool, on_expired: Callable[[str], None],
                 user_agent: str = "softswitch"):
        self._stack = stack
        self._config = config
        self._clock = clock
        self._dialog = dialog
        self._on_expired = on_expired
        self._user_agent = user_agent
        self.interval = negotiated.interval
        self.timer = SessionTimer(negotiated, we_refresh, clock.seconds())
        self._call = None
        self._stopped = False
        self._arm()

    def respond(self, key, request: Request, ok: Response) -> bool:
        """Answer the peer's re-INVITE or UPDATE (a refresh): `ok` with the timer's
        headers, or the 422/400 its Session-Expires calls for; whether `ok` went."""
        negotiated, refusal = uas_timing(request, self._config)
        if refusal is not None:
            self._stack.respond(key, refusal)
            return False
        add_timing(ok, negotiated)
        self._stack.respond(key, ok)
        self.peer_refreshed(negotiated)
        return True

    def peer_refreshed(self, negotiated: Negotiated) -> None:
        """The peer's (re-)INVITE or UPDATE got our 2xx with `negotiated` (the peer
        was its UAC)."""
        self.interval = negotiated.interval
        self.timer.refreshed(self._clock.seconds(), negotiated, negotiated.refresher == UAS)
        self._arm()

    def stop(self) -> None:
        self._stopped = True
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None

    def _arm(self) -> None:
        if self._stopped:
            return
        if self._call is not None and self._call.active():
            self._call.cancel()
        delay = max(0.0, self.timer.get_timer() - self._clock.seconds())
        self._call = self._clock.callLater(delay, self._due)

    def _due(self) -> None:
        self._call = None
        if self._stopped:
            return
        due = self.timer.handle_timer(self._clock.seconds())
        if due == EXPIRED:
            self._stopped = True
            self._on_expired("session-expired")
            return
        if due == REFRESH:
            self._send_refresh()
        self._arm()

    # -- our refresh -------------------------------------------------------------------
    def _send_refresh(self) -> None:
        method = "UPDATE" if self._dialog.peer_allows_update else "INVITE"
        request, peer = self._dialog.refresh_request(method)
        request.headers.add("Supported", "timer")
        # We send it, so we are its UAC, and we go on refreshing.
        request.headers.add("Session-Expires", f"{self.interval};refresher=uac")
        request.headers.add("User-Agent", self._user_agent)
        self._stack.send_request(request, peer, _RefreshAnswers(self, request))

    def _answered(self, request: Request, response: Response) -> None:
        if self._stopped:
            return
        status = response.status
        if 200 <= status < 300:
            if request.method == "INVITE":
                ack, peer = self._dialog.ack_for(request.cseq.number)
                self._stack.send_stateless(ack, peer)
            try:
                answered = negotiate_as_uac(response.headers.get("Session-Expires"))
            except ValueError:
                answered = None
            if answered is None:
                # A peer without timer support answers without one: we go on refreshing.
                we_refresh = True
            else:
                # The answer's refresher is in the roles of our request: uac is us.
                self.interval, we_refresh = answered.interval, answered.refresher == UAC
            self.timer.refreshed(self._clock.seconds(),
                                 Negotiated(self.interval, UAC), we_refresh)
            self._arm()
        elif status in ENDS_SESSION:
            self._failed(status)
        else:
            self.timer.retry(self._clock.seconds(), RETRY_DELAY)
            self._arm()

    def _failed(self, status: int | None) -> None:
        if self._stopped:
            return
        log.info("session refresh of {call_id} failed ({status}): ending the call",
                 call_id=self._dialog.call_id, status=status or "no answer")
        self.stop()
        self._on_expired("session-expired")


class _RefreshAnswers:
    """The responses to one refresh we sent (services.ports.ClientHandler)."""

    def __init__(self, refresh: DialogRefresh, request: Request):
        self._refresh = refresh
        self._request = request

    def response_received(self, key, response: Response) -> None:
        if response.status >= 200:
            self._refresh._answered(self._request, response)

    def timed_out(self, key) -> None:
        self._refresh._failed(408)

    def transport_failed(self, key) -> None:
        self._refresh._failed(503)
