"""The admin listener's door: what happens before a request reaches the /v1 resource.

- At most `max_connections` connections; more are closed at once.
- A client has `header_timeout` seconds from connecting (and from the end of each
  answer, on a kept-alive connection) to send a whole request head; trickling
  connections are closed then.
- A request with a body must carry a valid bearer token, checked once its head is in
  and before the body is read: the connection stops reading while the token is
  checked, and a refused request is answered (401, 429, then 413 for a declared
  Content-Length over the cap) and closed without the body ever being stored. Bodies
  are kept in memory and capped while they arrive too (413); none is spooled to disk.
- Bad tokens count against their address (admin.throttle); a blocked address gets
  429 with Retry-After.
- Paths whose resources check credentials of their own (`self_authenticating`: the
  Twilio-compatible REST paths with their Basic credentials) are read without a bearer
  token, their bodies capped at the size given with each path.
"""

import io
import json
from http import HTTPStatus

from twisted.logger import Logger
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.web.server import Request, Site

from ...admin.auth import bearer_token, unauthorized
from ...admin.errors import ApiError
from ...admin.throttle import client_host
from ..twisted_internals import request_disconnected, request_line_path

log = Logger()

def request_path(request) -> bytes:
    """The path of the request line, known once the head is in (before the body)."""
    return request_line_path(request.channel)


class AdminSite(Site):
    """A Site whose requests are AdminRequests; `tokens` is the API's TokenCache,
    `throttle` its BadTokenThrottle (None: no authentication before bodies)."""

    def __init__(self, resource, *, tokens=None, throttle=None, max_body: int,
                 metrics=None, self_authenticating: tuple[tuple[bytes, int], ...] = (),
                 **kwargs):
        super().__init__(resource, **kwargs)
        self.requestFactory = AdminRequest
        self.tokens = tokens
        self.throttle = throttle
        self.max_body = max_body
        self.metrics = metrics
        self.self_authenticating = self_authenticating  # (path prefix, body cap) pairs

    def own_credentials_cap(self, path: bytes) -> int | None:
        """The body cap of a path whose resource checks its own credentials, or None."""
        for prefix, cap in self.self_authenticating:
            if path.startswith(prefix):
                return cap
        return None

    def refused(self, reason: str) -> None:
        """Count a refusal at the door (bounded reasons)."""
        if self.metrics is not None:
            self.metrics.admin_refused.labels(reason).inc()


class AdminRequest(Request):
    _refused = False
    _awaiting_token = False
    _received = None  # requestReceived's arguments, held while the token is checked
    _expects_continue = False
    _body_size = 0
    _body_cap = None  # set when the head is in: the most body bytes read

    def gotLength(self, length):
        transport = self.channel.transport
        if isinstance(transport, AdminConnection):
            transport.head_received(self)
        site = self.channel.site
        if length == 0 or site.tokens is None:
            super().gotLength(length)
            return
        self.content = io.BytesIO()
        host = client_host(self)
        retry = site.throttle.retry_after(host) if site.throttle is not None else 0
        if retry:
            self.refuse(_too_many(retry), "throttled")
            return
        own_cap = site.own_credentials_cap(request_path(self))
        if own_cap is not None:
            self._body_cap = own_cap
            if length is not None and length > own_cap:
                self.refuse(ApiError(413, f"the body is larger than {own_cap} bytes"),
                            "body-too-large")
            return
        self._body_cap = site.max_body
        token = bearer_token(self.requestHeaders.getRawHeaders(b"authorization", [None])[0])
        if token is None:
            self.refuse(unauthorized("missing bearer token (Authorization: Bearer TOKEN)",
                                     False), "no-token")
            return
        # No more octets until the token is known good; what the read that ended the
        # head already brought (at most one socket read) waits in memory. A client
        # that asked for 100 Continue gets it only then.
        self._awaiting_token = True
        self._expects_continue = _pop_expect_continue(self)
        transport.pauseProducing()
        d = site.tokens.check(token)
        d.addCallbacks(self._token_checked, self._token_check_failed,
                       callbackArgs=(host, length))

    def _token_checked(self, token_id, host: str, length: int | None) -> None:
        self._awaiting_token = False
        if self._refused or request_disconnected(self):
            return
        if token_id is None:
            throttle = self.channel.site.throttle
            if throttle is not None:
                throttle.failed(host)
            self.refuse(unauthorized("invalid or revoked token", True), "bad-token")
            return
        max_body = self.channel.site.max_body
        if length is not None and length > max_body:
            self.refuse(ApiError(413, f"the body is larger than {max_body} bytes"),
                        "body-too-large")
            return
        if self._expects_continue and self._received is None:
            self.channel.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.channel.transport.resumeProducing()
        if self._received is not None:
            received, self._received = self._received, None
            super().requestReceived(*received)

    def _token_check_failed(self, failure) -> None:
        self._awaiting_token = False
        log.failure("admin API: checking a token failed", failure)
        if not (self._refused or request_disconnected(self)):
            self.refuse(ApiError(503, "the database is unavailable; try again"),
                        "token-check-failed")

    def handleContentChunk(self, data: bytes) -> None:
        if self._refused:
            return
        self._body_size += len(data)
        cap = self._body_cap
        if cap is not None and self._body_size > cap:
            self.refuse(ApiError(413, f"the body is larger than {cap} bytes"),
                        "body-too-large")
            return
        self.content.write(data)

    def requestReceived(self, command, path, version):
        if self._refused:
            return
        if self._awaiting_token:
            self._received = (command, path, version)
            return
        super().requestReceived(command, path, version)

    def refuse(self, error: ApiError, reason: str) -> None:
        """Answer now, before the request is read to its end, and close."""
        self._refused = True
        self.channel.site.refused(reason)
        _pop_expect_continue(self)  # no 100 Continue after a refusal
        self.content = io.BytesIO()
        body = json.dumps(error.body(), separators=(",", ":")).encode()
        head = [f"HTTP/1.1 {error.status} {HTTPStatus(error.status).phrase}",
                "Content-Type: application/json", "Cache-Control: no-store",
                f"Content-Length: {len(body)}", "Connection: close"]
        head += [f"{name}: {value}" for name, value in error.headers.items()]
        transport = self.channel.transport
        if transport is None:
            return
        transport.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        transport.loseConnection()


def _pop_expect_continue(request) -> bool:
    """Remove "Expect: 100-continue" (HTTPChannel answers it right after gotLength);
    whether it was there."""
    expect = request.requestHeaders.getRawHeaders(b"expect")
    if not expect or expect[0].lower() != b"100-continue":
        return False
    request.requestHeaders.removeHeader(b"expect")
    return True


def _too_many(retry: int) -> ApiError:
    return ApiError(429, "too many bad tokens from this address; try again later",
                    headers={"Retry-After": str(retry)})


class AdminConnection(ProtocolWrapper):
    """One admin connection: its request-head deadline."""

    def __init__(self, factory: "AdminListener", wrapped):
        super().__init__(factory, wrapped)
        self._head_call = None

    def makeConnection(self, transport):
        self._arm()
        super().makeConnection(transport)

    def head_received(self, request) -> None:
        self._cancel()
        request.notifyFinish().addBoth(self._answered)

    def _answered(self, _) -> None:
        if self.transport is not None and not self.disconnecting \
                and not getattr(self.transport, "disconnecting", False):
            self._arm()  # a kept-alive connection owes the next head in time too

    def _arm(self) -> None:
        self._cancel()
        self._head_call = self.factory.clock.callLater(self.factory.header_timeout,
                                                       self._head_timed_out)

    def _cancel(self) -> None:
        if self._head_call is not None and self._head_call.active():
            self._head_call.cancel()
        self._head_call = None

    def _head_timed_out(self) -> None:
        self._head_call = None
        log.debug("closing admin connection from {peer}: no request head within {t} s",
                  peer=str(self.getPeer()), t=self.factory.header_timeout)
        self.factory.wrappedFactory.refused("header-timeout")
        self.transport.abortConnection()

    def connectionLost(self, reason):
        self._cancel()
        super().connectionLost(reason)


class AdminListener(WrappingFactory):
    """Wraps the AdminSite: caps connections and times request heads."""

    protocol = AdminConnection

    def __init__(self, site: AdminSite, clock, *, max_connections: int = 256,
                 header_timeout: float = 10.0):
        super().__init__(site)
        self.clock = clock
        self.max_connections = max_connections
        self.header_timeout = header_timeout

    def buildProtocol(self, addr):
        if len(self.protocols) >= self.max_connections:
            log.debug("refusing admin connection from {addr}: {n} open", addr=addr,
                      n=len(self.protocols))
            self.wrappedFactory.refused("connection-limit")
            return None
        return super().buildProtocol(addr)
