"""Answering a request inside a dialog the switch is an end of: an agent call (the
switch is the callee) or a UAC leg (the switch placed the call). The in-dialog
router hands the request to the dialog's owner, which answers it here: the CSeq is
checked against the dialog (RFC 3261 §12.2.2), BYE ends the call, a re-INVITE or an
UPDATE with SDP is a new offer, an UPDATE without one a session refresh (RFC 4028),
INFO goes to the call, OPTIONS is 200, NOTIFY (of a REFER we sent) and REFER go to
the dialog end (calls.sip_leg), and anything else 405 with our Allow."""

from typing import Protocol

from ..sip.dialog import Dialog as SipDialog
from ..sip.errors import RemoteProtocolError
from ..sip.message import Request, Response, make_response
from .proxy_media import carries_sdp

# What a dialog end of the switch accepts (Allow in INVITEs, 2xx and 405s).
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER, NOTIFY"


class DialogEnd(Protocol):
    """The call behind one dialog end, told what the far end asked for."""

    def bye_received(self) -> None:
        """The far end hung up (its BYE was already answered 200)."""

    def offer_received(self, key, request: Request) -> None:
        """A re-INVITE, or an UPDATE carrying SDP: answer it (`refresh_ok` builds the 200)."""

    def refresh_received(self, key, request: Request) -> None:
        """An UPDATE without SDP: a session refresh to answer with `refresh_ok`."""

    def info_received(self, key, request: Request) -> None:
        """An INFO (DTMF, or a package we accept and ignore): answer it."""


def answer_request(stack, key, request: Request, view: SipDialog | None,
                   end: DialogEnd) -> None:
    """Answer `request` (server transaction `key`) in the dialog `view` of `end`."""
    if view is not None:
        try:
            view.request_received(request)  # CSeq order, target refresh
        except RemoteProtocolError as exc:
            stack.respond(key, make_response(request, exc.status_hint))
            return
    method = request.method
    if method == "BYE":
        stack.respond(key, make_response(request, 200))
        end.bye_received()
    elif method == "INVITE" or (method == "UPDATE" and carries_sdp(request)):
        end.offer_received(key, request)
    elif method == "UPDATE":
        end.refresh_received(key, request)
    elif method == "INFO":
        end.info_received(key, request)
    elif method == "OPTIONS":
        stack.respond(key, make_response(request, 200))
    elif method == "NOTIFY" and hasattr(end, "notify_received"):
        end.notify_received(key, request)
    elif method == "REFER" and hasattr(end, "refer_received"):
        end.refer_received(key, request)
    else:
        response = make_response(request, 405)
        response.headers.add("Allow", ALLOW)
        stack.respond(key, response)


def refresh_ok(request: Request, contact_uri: str, body: bytes = b"") -> Response:
    """The 200 to a re-INVITE or UPDATE: a target refresh answer carries our Contact
    (RFC 3261 §12.2.2, RFC 3311 §5.2) and Allow, and SDP when `body` is an answer or
    offer."""
    ok = make_response(request, 200, body=body)
    if body:
        ok.headers.add("Content-Type", "application/sdp")
    ok.headers.add("Contact", f"<{contact_uri}>")
    ok.headers.add("Allow", ALLOW)
    return ok
