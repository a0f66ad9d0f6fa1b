"""A proxied call's established dialog: its in-dialog requests and ACKs relayed along
the dialog's route (RFC 3261 §16), never to one of the switch's own addresses, with our
realm's credentials removed and the CSeq shift of a digest retry undone."""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..sip.message import Request, Response, make_response
from ..sip.transport import Peer
from .caller_id import present_in_dialog, restore_in_dialog
from .dialogs import Dialog
from .media_control import signalling_secure
from .proxy_media import carries_sdp
from .proxy_routes import next_hop, pop_own_routes, strip_own_credentials, targets_us

if TYPE_CHECKING:
    from .proxy import Proxy


@dataclass(slots=True)
class RelayedDialog:
    """The in-dialog router's owner of one relayed dialog (both its views)."""

    proxy: "Proxy"
    dialog: Dialog

    def in_dialog(self, key, request: Request, source: Peer, view) -> None:
        proxy, dialog = self.proxy, self.dialog
        if request.max_forwards == 0:
            proxy.stack.respond(key, make_response(request, 483))
            return
        side = dialog.side_of(request)
        dialog.passed(request, side)
        destination = in_dialog_hop(request, dialog, side, proxy.is_ours)
        if destination is None:
            proxy.stack.respond(key, make_response(request, 404))
            return
        forwarded = forward_in_dialog(request, destination, dialog, side, proxy.domain,
                                      proxy.stack)
        handler = InDialogForward(proxy, key, request, dialog, side)

        def send():
            proxy.stack.send_request(forwarded, destination, handler)

        if dialog.media is not None and request.method != "BYE":
            dialog.media.offer(forwarded, request.from_tag or "", send,
                               lambda status: proxy.stack.respond(
                                   key, make_response(request, status)),
                               secure=signalling_secure(dialog.towards(side)[1].transport))
        else:
            send()

    def ack(self, request: Request, source: Peer, view) -> None:
        """Forward an ACK statelessly along the dialog's route."""
        proxy, dialog = self.proxy, self.dialog
        if request.max_forwards == 0:
            return
        side = dialog.side_of(request)
        destination = in_dialog_hop(request, dialog, side, proxy.is_ours)
        if destination is None:
            return
        forwarded = forward_in_dialog(request, destination, dialog, side, proxy.domain,
                                      proxy.stack)
        send = lambda: proxy.stack.send_stateless(forwarded, destination)  # noqa: E731
        if dialog.late_offer and dialog.media is not None:
            dialog.late_offer = False
            # The offer came in the 2xx from the side this ACK goes to.
            dialog.media.answer(forwarded, request.to_tag or "", request.from_tag or "", send)
        else:
            send()


@dataclass
class InDialogForward:
    """A request forwarded within a dialog: one server transaction, one branch."""

    proxy: "Proxy"
    server_key: object
    request: Request
    dialog: Dialog | None
    from_side: str | None

    def response_received(self, key, response: Response) -> None:
        response.headers.pop_first("Via")
        dialog = self.dialog
        if dialog is not None and (dialog.callee_from or dialog.hide_caller):
            restore_in_dialog(response, self.request, dialog, self.from_side)
        response.invalidate()
        self._relay(response)

    def timed_out(self, key) -> None:
        self._relay(make_response(self.request, 408))

    def transport_failed(self, key) -> None:
        self._relay(make_response(self.request, 503))

    def _relay(self, response: Response) -> None:
        dialog = self.dialog
        if dialog is not None and dialog.cseq_offset and self.from_side == "caller":
            response.headers.set("CSeq", f"{response.cseq.number - dialog.cseq_offset} "
                                         f"{response.cseq.method}")
            response.invalidate()

        def forward():
            self.proxy.stack.respond(self.server_key, response)
            if self.request.method == "BYE" and response.status >= 200 and dialog is not None:
                self.proxy.end_dialog(dialog, self.from_side or "caller", "bye")

        if dialog is not None and dialog.media is not None and 200 <= response.status < 300:
            if self.request.method == "INVITE" and not carries_sdp(self.request) \
                    and carries_sdp(response):
                # A re-INVITE without SDP: the 2xx carries the offer, the ACK the answer.
                dialog.late_offer = True
                dialog.media.offer(response, self.request.to_tag or "", forward,
                                   lambda status: forward())
            else:
                dialog.media.answer(response, self.request.from_tag or "",
                                    self.request.to_tag or "", forward)
        else:
            forward()


def in_dialog_hop(request: Request, dialog: Dialog, side: str, is_ours) -> Peer | None:
    """Where an in-dialog request goes next, never one of our own addresses. A
    request that names us without our Route (its sender ignored Record-Route) is
    delivered to the dialog's other side, as a B2BUA would (RFC 3261 §12.2.1.1:
    that side's remote target and route set)."""
    pop_own_routes(request, is_ours)
    if targets_us(request, is_ours):
        towards_other, peer = dialog.towards("callee" if side == "caller" else "caller")
        uri, routes = towards_other.request_target()
        request.set_uri(uri)
        for route in routes:
            request.headers.add("Route", route)
        destination = next_hop(request) if routes else peer
    else:
        destination = next_hop(request)
    if destination is None or is_ours(destination.host, destination.port):
        return None
    return destination


def forward_in_dialog(request: Request, destination: Peer, dialog, side, domain: str,
                      stack) -> Request:
    forwarded = Request(request.method, request.uri, request.headers.copy(), request.body)
    strip_own_credentials(forwarded, domain)
    forwards = request.max_forwards
    forwarded.headers.set("Max-Forwards", str((70 if forwards is None else forwards) - 1))
    if dialog is not None and dialog.cseq_offset and side == "caller":
        forwarded.headers.set("CSeq", f"{request.cseq.number + dialog.cseq_offset} "
                                      f"{request.cseq.method}")
    if dialog is not None and (dialog.callee_from or dialog.hide_caller):
        present_in_dialog(forwarded, dialog, side, stack.via_for(destination),
                          stack.local_uri(destination))
    else:
        forwarded.headers.insert_before("Via", stack.via_for(destination))
    forwarded.invalidate()
    return forwarded
