"""Requests the switch answers itself, checked in RFC 3261 §8.2 order: method
inspection (405/501), header inspection (416, 420), content processing (415, 406),
then the method's handler (registrar, OPTIONS)."""

from dataclasses import dataclass
from typing import Protocol

from ..sip.ids import new_tag
from ..sip.message import KNOWN_METHODS, Request, Response, make_response
from ..sip.uri import AbsoluteUri
from .registrar import Registrar

SUPPORTED_EXTENSIONS = frozenset(("path", "timer"))
ACCEPTED_BODY_TYPES = ("application/sdp",)


@dataclass(frozen=True)
class ServerIdentity:
    user_agent: str = "softswitch"
    allow: tuple[str, ...] = ("INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "REGISTER")


class ProxiedCalls(Protocol):
    """Where calls and in-dialog requests go (services.proxy.Proxy)."""

    def initial_invite(self, key, request: Request, source) -> None: ...

    def cancel(self, key, request: Request) -> None: ...

    def in_dialog(self, key, request: Request, source) -> None: ...

    def ack(self, request: Request, source) -> None: ...

    def stray_response(self, response: Response) -> None: ...


class RequestDispatcher:
    """The transaction user of the switch (services.ports.TransactionUser). Without a
    proxy, calls and in-dialog requests get the switch's own answers (404, 481)."""

    def __init__(self, registrar: Registrar, stack,
                 identity: ServerIdentity = ServerIdentity(),
                 proxy: ProxiedCalls | None = None):
        self._registrar = registrar
        self._identity = identity
        self._allow_header = ", ".join(identity.allow)
        self._stack = stack
        self.proxy: ProxiedCalls = proxy if proxy is not None else _AnsweredHere(self)
        self.draining = False  # shutting down: new calls are refused with 503

    # -- TransactionUser port -----------------------------------------------------
    def request_received(self, key, request: Request, source) -> None:
        if not self._proxied(key, request, source):
            self.answer(key, request, source)

    def answer(self, key, request: Request, source) -> None:
        """Answer `request` here (registrar, OPTIONS, refusals)."""
        response = self.handle(request, str(source), self._stack.seconds())
        if response is not None:
            self._stack.respond(key, response)

    def _proxied(self, key, request: Request, source) -> bool:
        """Calls and in-dialog requests go to the proxy after the checks a proxy makes
        (RFC 3261 §16.3: scheme, Proxy-Require); True when it took the request."""
        method = request.method
        if method not in ("INVITE", "CANCEL") and not request.to_tag:
            return False
        if method not in self._identity.allow and not request.to_tag:
            return False
        refusal = None
        if isinstance(request.ruri, AbsoluteUri):
            refusal = make_response(request, 416, to_tag=new_tag())
        elif method != "CANCEL":
            unsupported = [opt for opt in request.headers.get_list("Proxy-Require")
                           if opt.lower() not in SUPPORTED_EXTENSIONS]
            if unsupported:
                refusal = make_response(request, 420, to_tag=new_tag())
                refusal.headers.add("Unsupported", ", ".join(unsupported))
        if refusal is not None:
            self._stack.respond(key, self._finish(refusal))
        elif method == "CANCEL":
            self.proxy.cancel(key, request)
        elif request.to_tag:
            self.proxy.in_dialog(key, request, source)
        elif self.draining:
            refusal = make_response(request, 503, to_tag=new_tag())
            refusal.headers.add("Retry-After", "30")
            self._stack.respond(key, self._finish(refusal))
        else:
            self.proxy.initial_invite(key, request, source)
        return True

    def ack_received(self, request: Request, source) -> None:
        """An ACK for a 2xx: the proxy forwards it along the dialog's route."""
        self.proxy.ack(request, source)

    def stray_response(self, response: Response) -> None:
        """A response to no transaction of ours: a proxied 2xx retransmission."""
        self.proxy.stray_response(response)

    def server_timed_out(self, key) -> None:
        """No ACK came for a final response we sent (Timer H)."""

    def handle(self, request: Request, source: str, now: float) -> Response | None:
        """The final response to `request`, or None for ACK (nothing to answer)."""
        method = request.method
        if method == "ACK":
            return None
        to_tag = None if request.to_tag else new_tag()
        if method not in self._identity.allow:
            status = 405 if method in KNOWN_METHODS else 501
            response = make_response(request, status, to_tag=to_tag)
            response.headers.add("Allow", self._allow_header)
            return self._finish(response)
        if isinstance(request.ruri, AbsoluteUri):
            return self._finish(make_response(request, 416, to_tag=to_tag))
        if method != "CANCEL":
            unsupported = [opt for opt in request.headers.get_list("Require")
                           + request.headers.get_list("Proxy-Require")
                           if opt.lower() not in SUPPORTED_EXTENSIONS]
            if unsupported:
                response = make_response(request, 420, to_tag=to_tag)
                response.headers.add("Unsupported", ", ".join(unsupported))
                return self._finish(response)
        if method == "REGISTER":
            return self._finish(self._registrar.handle(request, source, now, to_tag))
        if method == "OPTIONS":
            return self._finish(self._options(request, to_tag))
        if method == "INVITE":
            refused = self._check_content(request, to_tag)
            if refused is not None:
                return self._finish(refused)
            return self._finish(make_response(request, 404, to_tag=to_tag))
        # BYE or CANCEL that matched no dialog or transaction.
        return self._finish(make_response(request, 481, to_tag=to_tag))

    def _options(self, request: Request, to_tag: str | None) -> Response:
        response = make_response(request, 200, to_tag=to_tag)
        response.headers.add("Allow", self._allow_header)
        response.headers.add("Accept", ", ".join(ACCEPTED_BODY_TYPES))
        response.headers.add("Accept-Encoding", "identity")
        response.headers.add("Accept-Language", "en")
        response.headers.add("Supported", ", ".join(sorted(SUPPORTED_EXTENSIONS)))
        return response

    def _check_content(self, request: Request, to_tag: str | None) -> Response | None:
        content_type = request.headers.get("Content-Type")
        if request.body and content_type is not None:
            media_type = content_type.partition(";")[0].strip().lower()
            if media_type not in ACCEPTED_BODY_TYPES:
                response = make_response(request, 415, to_tag=to_tag)
                response.headers.add("Accept", ", ".join(ACCEPTED_BODY_TYPES))
                return response
        accept = request.headers.get_list("Accept")
        if accept:
            accepted = {a.partition(";")[0].strip().lower() for a in accept}
            if not accepted & {"application/sdp", "application/*", "*/*"}:
                response = make_response(request, 406, to_tag=to_tag)
                response.headers.add("Warning", '399 softswitch "only application/sdp is offered"')
                return response
        return None

    def _finish(self, response: Response) -> Response:
        response.headers.add("Server", self._identity.user_agent)
        return response


class _AnsweredHere:
    """No proxy (services.proxy): the dispatcher answers calls itself."""

    __slots__ = ("_dispatcher",)

    def __init__(self, dispatcher: RequestDispatcher):
        self._dispatcher = dispatcher

    def initial_invite(self, key, request: Request, source) -> None:
        self._dispatcher.answer(key, request, source)

    def cancel(self, key, request: Request) -> None:
        self._dispatcher.answer(key, request, "")

    def in_dialog(self, key, request: Request, source) -> None:
        self._dispatcher.answer(key, request, source)

    def ack(self, request: Request, source) -> None:
        pass

    def stray_response(self, response: Response) -> None:
        pass
