"""The /v1 HTTP resource: match, authenticate, validate, run, render.

One leaf resource serves the whole route table. Every answer is JSON; every
failure goes through ``errors.to_api_error``; the handlers return Deferreds
and never block the reactor.
"""

import json
import time
from http import HTTPStatus

from pydantic import ValidationError
from twisted.internet import defer
from twisted.protocols.basic import FileSender
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from softswitch.admin.auth import bearer_token, unauthorized
from softswitch.admin.errors import ApiError, from_validation, is_database_outage, to_api_error
from softswitch.admin.router import Call, Route, Router
from softswitch.admin.throttle import client_host

MAX_BODY_BYTES = 1_048_576
KNOWN_METHODS = frozenset(("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"))
UNMATCHED_ROUTE = "unmatched"


class Reply:
    """A handler's answer when the route's default status is not enough."""

    def __init__(self, body=None, status: int | None = None, headers: dict | None = None):
        self.body = body
        self.status = status
        self.headers = headers or {}


class FileBody:
    """A reply that is a file (a recording's audio), not JSON: sent from `handle`
    in pieces as the client takes them (FileSender), then closed."""

    def __init__(self, handle, content_type: bytes, size: int):
        self.handle = handle
        self.content_type = content_type
        self.size = size


class ApiResource(Resource):
    isLeaf = True
    log = Logger()

    def __init__(self, router: Router, context, tokens, metrics=None, throttle=None):
        super().__init__()
        self.router = router
        self._context = context
        self.tokens = tokens
        self.throttle = throttle  # admin.throttle.BadTokenThrottle, or None
        self._metrics = metrics

    def render(self, request):
        started = time.perf_counter()
        method = request.method.decode("ascii", "replace")
        state = {"route": None, "open": True}
        request.notifyFinish().addErrback(lambda _: state.update(open=False))
        d = self._serve(request, method, state)
        d.addErrback(self._failed, method, request)
        d.addCallback(self._write, request, method, state, started)
        d.addErrback(lambda f: self.log.failure("writing an API response failed", f))
        return NOT_DONE_YET

    @defer.inlineCallbacks
    def _serve(self, request, method: str, state: dict):
        try:
            path = request.path.decode("ascii")
            route, params = self.router.match(method, path)
        except (UnicodeDecodeError, ValueError):
            raise ApiError(404, "no such endpoint") from None
        state["route"] = route
        if not route.public:
            host = client_host(request)
            retry = self.throttle.retry_after(host) if self.throttle is not None else 0
            if retry:
                raise ApiError(429, "too many bad tokens from this address; try again later",
                               headers={"Retry-After": str(retry)})
            token = bearer_token(request.getHeader(b"authorization"))
            if token is None:
                raise unauthorized("missing bearer token (Authorization: Bearer TOKEN)", False)
            if (yield self.tokens.check(token)) is None:
                if self.throttle is not None:
                    self.throttle.failed(host)
                raise unauthorized("invalid or revoked token", True)
        call = Call(params, _body(request, route), _query(request, route))
        result = yield route.handler(self._context, call)
        return result if isinstance(result, Reply) else Reply(result)

    def _failed(self, failure: Failure, method: str, request) -> Reply:
        error = to_api_error(failure, method)
        if error is None:
            if is_database_outage(failure):
                self.log.failure("admin API: database unavailable", failure)
                error = ApiError(503, "the database is unavailable; try again")
            else:
                self.log.failure("admin API request failed: {method} {path}", failure,
                                 method=method, path=request.path)
                error = ApiError(500, "internal error; the switch log has the details")
        return Reply(error.body(), error.status, error.headers)

    def _write(self, reply: Reply, request, method: str, state: dict, started: float):
        route: Route | None = state["route"]
        status = reply.status or (route.status if route else 200)
        if isinstance(reply.body, FileBody):
            return self._send_file(reply, request, method, state, started, route)
        try:
            body = _response_body(reply, route, status)
        except Exception:
            # A response that breaks its own model is our bug; never send it.
            self.log.failure("admin API response failed its schema: {method} {path}",
                             method=method, path=request.path)
            status, reply = 500, Reply(headers={})
            body = ApiError(500, "internal error; the switch log has the details").body()
        if state["open"]:
            request.setResponseCode(status, HTTPStatus(status).phrase.encode())
            for name, value in reply.headers.items():
                request.setHeader(name, value)
            if status != 204 and body is not None:
                request.setHeader(b"content-type", b"application/json")
                request.setHeader(b"cache-control", b"no-store")
                request.write(json.dumps(body, separators=(",", ":")).encode())
            request.finish()
        if self._metrics is not None:
            pattern = route.pattern if route is not None else UNMATCHED_ROUTE
            label = method if method in KNOWN_METHODS else "other"
            self._metrics.observe_api(pattern, label, status, time.perf_counter() - started)


    def _send_file(self, reply: Reply, request, method: str, state: dict, started: float,
                   route: Route):
        body: FileBody = reply.body
        if not state["open"]:
            body.handle.close()
            return None
        request.setResponseCode(200)
        for name, value in reply.headers.items():
            request.setHeader(name, value)
        request.setHeader(b"content-type", body.content_type)
        request.setHeader(b"content-length", str(body.size).encode())
        request.setHeader(b"cache-control", b"no-store")
        if self._metrics is not None:
            label = method if method in KNOWN_METHODS else "other"
            self._metrics.observe_api(route.pattern, label, 200, time.perf_counter() - started)
        if method == "HEAD":
            body.handle.close()
            request.finish()
            return None
        d = FileSender().beginFileTransfer(body.handle, request)

        def done(_):
            body.handle.close()
            if state["open"]:
                request.finish()
        return d.addBoth(done)


def _response_body(reply: Reply, route: Route | None, status: int):
    if status >= 400 or route is None or route.response_model is None or reply.body is None:
        return reply.body
    model = route.response_model.model_validate(reply.body)
    return model.model_dump(mode="json", by_alias=True)


def _query(request, route: Route):
    args = {}
    for key, values in request.args.items():
        try:
            args[key.decode("utf-8")] = values[-1].decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(400, "query parameters must be UTF-8") from None
    if route.query_model is None:
        if args:
            name = sorted(args)[0]
            raise ApiError(422, f"{name}: unknown query parameter", name)
        return None
    try:
        return route.query_model.model_validate(args)
    except ValidationError as exc:
        raise from_validation(exc) from None


def _body(request, route: Route):
    if route.body_model is None:
        return None
    request.content.seek(0)
    data = request.content.read(MAX_BODY_BYTES + 1)
    if len(data) > MAX_BODY_BYTES:
        raise ApiError(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    if not data.strip():
        raise ApiError(400, "a JSON object body is required")
    try:
        return route.body_model.model_validate_json(data)
    except ValidationError as exc:
        raise from_validation(exc) from None
